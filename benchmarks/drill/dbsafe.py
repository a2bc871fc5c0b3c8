"""Database work from the drill's own threads, which the connection fault cuts like any other client's."""


def database_errors():
    from django.db import DatabaseError, InterfaceError

    return (DatabaseError, InterfaceError)


def fresh_connection():
    """Before a unit of work, as Django does per request: a connection that broke is dropped and the
    next query opens another."""
    from django.db import close_old_connections

    close_old_connections()
