"""What the console holds, sampled every couple of seconds in one statement: the progress line and the
report's charts."""

import threading
import time
from dataclasses import dataclass

from drill.dbsafe import database_errors, fresh_connection

EVERY = 2.0


@dataclass(frozen=True)
class Sample:
    t: float
    waiting: int  # deliveries stored, not processed yet (received or failed)
    finished: int  # accepted deliveries processed (processed, duplicate, stale, ignored)
    refused: int  # rejected or malformed
    orders: int
    owned: int  # customers with an owner
    with_agent: int
    open_exceptions: int
    outbox_pending: int


def _statement():
    from integrations.crm.models import OutboundMessage
    from integrations.models import InboundEvent
    from lifecycle.models import ExceptionCase, Order, Ownership

    inbound, ownership = InboundEvent._meta.db_table, Ownership._meta.db_table
    return f"""
        SELECT (SELECT count(*) FROM {inbound} WHERE status IN ('received', 'failed')),
               (SELECT count(*) FROM {inbound} WHERE status IN ('processed', 'duplicate', 'stale', 'ignored')),
               (SELECT count(*) FROM {inbound} WHERE status IN ('rejected', 'malformed')),
               (SELECT count(*) FROM {Order._meta.db_table}),
               (SELECT count(*) FROM {ownership}),
               (SELECT count(*) FROM {ownership} WHERE agent_id IS NOT NULL),
               (SELECT count(*) FROM {ExceptionCase._meta.db_table} WHERE status IN ('open', 'in_progress')),
               (SELECT count(*) FROM {OutboundMessage._meta.db_table} WHERE state = 'pending')"""


def sample():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_statement())
        return Sample(time.time(), *cursor.fetchone())


class Monitor:
    def __init__(self):
        self.samples = []
        self.stopping = threading.Event()

    @property
    def last(self):
        return self.samples[-1] if self.samples else None

    def loop(self):
        while not self.stopping.wait(EVERY):
            try:
                fresh_connection()
                self.samples.append(sample())
            except database_errors():
                pass  # the connection fault: the next sample reconnects
