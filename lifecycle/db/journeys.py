"""The journey sweep's statement: pending steps past due become missed, oldest due first, in one
UPDATE … RETURNING (PostgreSQL, SQLite ≥ 3.35). On PostgreSQL, steps a follower holds (it is
completing them) are skipped, not waited for: the next run sees whether they are still due."""

import functools

from django.db import connection

from lifecycle.db import rows
from lifecycle.db.sql import table
from lifecycle.models import JourneyStep, StepState

MARK_MISSED = """UPDATE {step} SET state = '{missed}', missed_at = %s
     WHERE id IN (SELECT id FROM {step} WHERE state = '{pending}' AND due_at < %s
                   ORDER BY due_at LIMIT %s{lock})
 RETURNING {columns}"""


@functools.cache
def _sql():
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return MARK_MISSED.format(step=table(JourneyStep), missed=StepState.MISSED.value, pending=StepState.PENDING.value,
                              lock=lock, columns=rows.columns(JourneyStep))


def mark_missed(*, due_before, missed_at, limit):
    """Mark up to `limit` pending steps due before `due_before` missed at `missed_at`; the steps, as
    changed (JourneyStep instances built from the returned rows)."""
    adapt = connection.ops.adapt_datetimefield_value
    with rows.cursor() as cursor:
        cursor.execute(_sql(), [adapt(missed_at), adapt(due_before), limit])
        return [rows.from_row(JourneyStep, row) for row in cursor.fetchall()]
