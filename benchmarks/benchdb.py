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


def migrated_bench_database(suffix, figure, synchronous_commit="on"):
    """Point Django at a fresh, migrated bench database, as deployed (DEBUG off: with it on, Django keeps
    every query's SQL in memory); return its URL. Exits with status 1 when it is not PostgreSQL."""
    url = bench_url(suffix)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    recreate_database(url, synchronous_commit)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        print(f"ERROR: the {figure} figure needs PostgreSQL, got {connection.vendor}")
        raise SystemExit(1)
    call_command("migrate", verbosity=0)
    return url


def seed_owned_customers(cursor, count, since):
    """Customers 1..count ("Customer g", cg@example.com, active since `since`), each owned by the
    Success team (no agent), written by SQL: what an order benchmark needs before its orders."""
    p = {"n": count, "since": since}
    cursor.execute("SELECT id FROM lifecycle_team WHERE slug = 'success'")
    p["team"] = cursor.fetchone()[0]
    cursor.execute("""
        INSERT INTO lifecycle_customer (id, display_name, email, phone, country, tags, stage, first_order_at,
                                        created_at, updated_at)
        SELECT g, 'Customer ' || g, 'c' || g || '@example.com', '', 'DE', '[]'::jsonb, 'active',
               %(since)s, %(since)s, %(since)s
          FROM generate_series(1, %(n)s) g""", p)
    cursor.execute("""
        INSERT INTO lifecycle_ownership (id, customer_id, team_id, since)
        SELECT g, g, %(team)s, %(since)s FROM generate_series(1, %(n)s) g""", p)
