"""Locks on things that have no row yet: an order or a customer identity about to be created.

Two writers creating the same order (two drains of one store, a drain and a backfill, an import)
or the same customer (one email ordering in two stores at once) would both insert it, and one
would fail on the unique constraint and roll its whole batch back. Each writer first takes a
transaction-scoped advisory lock per key it may create, in one sorted order (so two writers never
wait for each other in a cycle), and reads what exists only then. PostgreSQL only: SQLite
serialises writers anyway.
"""

import hashlib

from django.db import connection


def key_id(key):
    """A stable signed 64-bit number for a tuple of strings (the advisory lock's key space)."""
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_keys(keys):
    """Hold the keys until the transaction ends; waits while another transaction holds one."""
    if connection.vendor != "postgresql" or not keys:
        return
    ids = sorted({key_id(key) for key in keys})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) s",
                       [ids])
