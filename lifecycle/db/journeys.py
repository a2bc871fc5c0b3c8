"""The journey sweep's statement: pending steps past due become missed, oldest due first, in one
UPDATE … RETURNING (PostgreSQL, SQLite ≥ 3.35). On PostgreSQL, steps a follower holds (it is
completing them) are skipped, not waited for: the next run sees whether they are still due."""

import datetime
import functools
from collections import namedtuple

from django.db import connection
from django.utils.dateparse import parse_datetime

from lifecycle.db import rows
from lifecycle.db.sql import quote, table
from lifecycle.models import JourneyStep, StepState

# What the sweep needs of a step it marked (no model instance: ten thousand cost a second to build).
Missed = namedtuple("Missed", "pk journey_id customer_id team_id key name due_at sla_minutes")
# On PostgreSQL the ids go as an array: `id IN (subquery)` was planned as a hash join over every step.
MARK_MISSED = """UPDATE {step} SET state = '{missed}', missed_at = %s
     WHERE id {among} (SELECT id FROM {step} WHERE state = '{pending}' AND due_at < %s
                        ORDER BY due_at LIMIT %s{lock}){close}
 RETURNING {columns}"""


@functools.cache
def _sql():
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    among, close = ("= ANY(ARRAY", ")") if connection.vendor == "postgresql" else ("IN", "")
    columns = ", ".join(quote(JourneyStep._meta.get_field(name).column) for name in
                        ("id", "journey", "customer", "team", "key", "name", "due_at", "sla_minutes"))
    return MARK_MISSED.format(step=table(JourneyStep), missed=StepState.MISSED.value, pending=StepState.PENDING.value,
                              lock=lock, columns=columns, among=among, close=close)


def mark_missed(*, due_before, missed_at, limit):
    """Mark up to `limit` pending steps due before `due_before` missed at `missed_at`; the steps marked
    (Missed rows)."""
    adapt = connection.ops.adapt_datetimefield_value
    with rows.cursor() as cursor:
        cursor.execute(_sql(), [adapt(missed_at), adapt(due_before), limit])
        found = cursor.fetchall()
    return [Missed(*row[:6], _aware(row[6]), row[7]) for row in found]


def _aware(value):
    """SQLite hands a due time back as text or a naive datetime, in UTC without its offset."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)
