"""Pruning the CRM's outbox: messages done with (delivered, superseded by a newer one, or not sent
because nothing of them could be) are deleted once older than RETENTION. Dead letters and pending
messages stay whatever their age: a person still has to act on them, or the deliverer does.

Nothing reads a done message once it is old: a customer's "newest message" is its newest whatever
its state (newer ones are never pruned first, being younger), what was sent is kept on the contact
and the deal (CrmContact.pushed, CrmDeal.pushed), and the dashboard counts the last hour only.

Set-based and bounded: each statement deletes at most BATCH rows, the oldest first, found by the
primary key's order (ids grow with time, so the old rows are its first ones), and the task stops
after RUN_SECONDS; the next run goes on.
"""

import time
from datetime import timedelta

from django.db import connection as db
from django.utils import timezone

from integrations.crm.models import OutboundMessage
from lifecycle.db.sql import col, literals, table

M = OutboundMessage.State
# Long enough to answer "was this sent, and when?" for a month's questions; the admin's outbox
# shows them meanwhile. What was sent stays on the contact and the deal after that.
RETENTION = timedelta(days=30)
DONE = (M.DELIVERED, M.SUPERSEDED, M.SKIPPED)
BATCH = 10_000  # rows a statement deletes: a short lock, a bounded WAL burst
RUN_SECONDS = 60  # a run gives its worker back after this; the next (hourly) run goes on

PRUNE = """DELETE FROM {outbox} WHERE {id} IN (
    SELECT {id} FROM {outbox} WHERE {state} IN ({done}) AND {created} < %s ORDER BY {id} LIMIT %s)"""


def outbox_prune(*, now=None, retention=RETENTION, batch=BATCH, run_seconds=RUN_SECONDS):
    """Delete done messages older than `retention`, `batch` at a time, for at most `run_seconds`;
    returns how many. A rerun deletes what is left, and nothing twice."""
    cutoff = (now or timezone.now()) - retention
    sql = PRUNE.format(outbox=table(OutboundMessage), id=col(OutboundMessage, "id"),
                       state=col(OutboundMessage, "state"), created=col(OutboundMessage, "created_at"),
                       done=literals(DONE))
    deleted, started = 0, time.monotonic()
    while True:
        with db.cursor() as cursor:
            cursor.execute(sql, [cutoff, batch])
            count = cursor.rowcount
        deleted += count
        if count < batch or time.monotonic() - started > run_seconds:
            return deleted
