"""The drill's own PostgreSQL database: named by the drill, dropped and created per run, and the only one
whose connections it ever terminates.

The server and role come from DATABASE_URL when it is PostgreSQL (CI's role `aftercare` has CREATEDB),
else postgres@127.0.0.1:5432; the name is the configured database's with "_drill" added, or --database.
A name without "drill" in it is refused: the drill drops what it uses.
"""

import os
import time
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/aftercare"


def drill_url(name=None):
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url if url.startswith(POSTGRES_SCHEMES) else DEFAULT_SERVER)
    base = parts.path.lstrip("/") or "aftercare"
    name = name or (base if "drill" in base else f"{base}_drill")
    if "drill" not in name:
        raise SystemExit(f"refusing to use {name!r}: the drill drops its database, whose name must contain 'drill'")
    return urlunsplit(parts._replace(path="/" + name))


def libpq_url(url):
    """The URL as psycopg takes it (dj-database-url's other schemes spelled as libpq's)."""
    return urlunsplit(urlsplit(url)._replace(scheme="postgresql"))


def _maintenance(url):
    parts = urlsplit(libpq_url(url))
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def recreate(url):
    import psycopg
    from psycopg import sql

    maintenance, name = _maintenance(url)
    ident = sql.Identifier(name)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        for attempt in range(10):  # a process of the last run may still be connecting while it stops
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(1)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def terminate_connections(url):
    """End every session of the drill's database (the fault), from a session of the maintenance
    database; returns how many. pg_terminate_backend needs the sessions' role or superuser, which the
    drill's role is (it made them all)."""
    import psycopg

    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()", [name]).fetchall()
    return sum(1 for (ended,) in rows if ended)
