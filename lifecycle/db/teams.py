"""Team rows as routing takes them: locked, and their round-robin counter moved."""

import functools

from django.db import connection

from lifecycle.db.sql import col, for_update, marks, table
from lifecycle.models import Team


@functools.cache
def _lock_sql(count):
    return for_update(f"SELECT * FROM {table(Team)} WHERE {col(Team, 'id')} IN ({marks(count)}) "
                      f"ORDER BY {col(Team, 'id')}")


@functools.cache
def _counter_sql():
    return f"UPDATE {table(Team)} SET {col(Team, 'rr_counter')} = %s WHERE {col(Team, 'id')} = %s"


def lock_teams(team_ids):
    """{team id: Team}, their rows locked in id order. Hand-written: building the ORM's query was a
    third of a routing decision's time (benchmarks/bench_routing.py)."""
    ids = sorted(set(team_ids))
    return {team.pk: team for team in Team.objects.raw(_lock_sql(len(ids)), ids)}


def set_counter(team_id, counter):
    with connection.cursor() as cursor:
        cursor.execute(_counter_sql(), [counter, team_id])
