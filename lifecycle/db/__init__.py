"""Hand-written SQL, in one place: the statements the hot paths run instead of the ORM's, and the
helpers they are built with (sql.py), the batch writes (rows.py), the key locks (locks.py), and
the rows of owners (owners.py), teams (teams.py), exceptions (exceptions.py: a raise's refresh, the
SLA sweep), timeline events (timeline.py: the sweep's) and routing's reads (routing.py).

Services decide; these modules only read and write rows as they are told. Everything here names
tables and columns through the models, so a rename cannot silently break a statement.
"""
