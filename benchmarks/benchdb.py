"""The database a benchmark owns: named apart from the application's, dropped and created per run."""

import os
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")


def bench_url(suffix):
    """BENCH_DATABASE_URL if set; else DATABASE_URL's server (when PostgreSQL) with `_<suffix>` added to
    the database name; else a local database named aftercare_<suffix>. Never the application's own
    database: the benchmark drops what it uses."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(POSTGRES_SCHEMES):
        return f"postgres://postgres@127.0.0.1:5432/aftercare_{suffix}"
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "aftercare"
    return urlunsplit(parts._replace(path="/" + (name if "bench" in name else f"{name}_{suffix}")))


def recreate_database(url, synchronous_commit="on"):
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: a benchmark database's name contains 'bench'")
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        if synchronous_commit != "on":
            conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = {}").format(
                ident, sql.Literal(synchronous_commit)))
