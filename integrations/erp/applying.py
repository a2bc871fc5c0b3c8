"""The second pass of an ERP import: the orders the first pass checked, applied a chunk per transaction.

A large export is applied by WORKERS appliers side by side, each a thread with its own database
connection. An applier spends nearly as long waiting for PostgreSQL as computing; side by side, one
computes while the other waits, so the two CPUs a deployment has both work (one the Python, the other
PostgreSQL) and the apply takes about as long as its Python alone instead of the sum of both.

Each order goes to the applier its shop order number picks, so all the rows about one order are
applied in file order, by one applier, through the same chunk_apply a single applier uses: only
orders of different numbers interleave differently, and an export (a snapshot of its orders, in no
order that means anything) does not fix theirs anyway. Appliers lock orders and customers in id
order, as the shop's drains and backfills running beside an import do: they may wait for each other,
never in a cycle.

One applier does it all, in file order, when side by side would not do: a database other than
PostgreSQL (SQLite runs one writer at a time), inside the caller's transaction (other connections
cannot see into it), a file of a few chunks, or an ERP id naming two shop orders in one file (its
record must end with the later row, and the two orders may fall to different appliers).
"""

import queue
import threading
import zlib
from dataclasses import replace

from django.db import connection, connections

from integrations.erp.chunks import COUNTS, Tally, chunk_apply

WORKERS = 2  # appliers side by side: one computing while the other waits, on two CPUs
SIDE_BY_SIDE_FROM = 4  # chunks: a smaller file gains less than starting the appliers costs
AHEAD = 2  # chunks handed to an applier ahead of its work: enough to never wait, little held in memory


def apply_checked(run, checked, chunk, applied_to, side_by_side=True):
    """Apply the `checked` orders (checked.CheckedOrders), `chunk` per transaction; `applied_to(line)`
    hears how far into the file the apply is. The batch's counts grow with each chunk's commit, and
    in memory (run.tally) by the end. `side_by_side`: whether the file allows more than one applier."""
    if (not side_by_side or connection.vendor != "postgresql" or connection.in_atomic_block
            or run.tally.orders_read < SIDE_BY_SIDE_FROM * chunk):
        for orders in checked.chunks():
            chunk_apply(run, orders)
            applied_to(orders[-1].line)
        return
    _side_by_side(run, checked, chunk, applied_to)


def _side_by_side(run, checked, chunk, applied_to):
    appliers = [replace(run, tally=Tally(), errors=[], seen=set(), last_error_line=0, meanings={}) for _ in range(WORKERS)]
    inboxes = [queue.Queue(maxsize=AHEAD) for _ in appliers]
    failed = []
    threads = [threading.Thread(target=_work, args=(applier, inbox, failed), name=f"erp-import-{run.batch.pk}-{n}")
               for n, (applier, inbox) in enumerate(zip(appliers, inboxes))]
    for thread in threads:
        thread.start()
    pending = [[] for _ in appliers]
    try:
        for orders in checked.chunks():
            for order in orders:
                n = zlib.crc32(order.shop_order_number.encode()) % len(appliers)
                pending[n].append(order)
                if len(pending[n]) == chunk:
                    inboxes[n].put(pending[n])
                    pending[n] = []
            if failed:
                break
            applied_to(orders[-1].line)
        else:
            for inbox, orders in zip(inboxes, pending):
                if orders:
                    inbox.put(orders)
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for thread in threads:
            thread.join()
        for name in COUNTS:
            setattr(run.tally, name, getattr(run.tally, name) + sum(getattr(a.tally, name) for a in appliers))
    if failed:
        raise failed[0]


def _work(run, inbox, failed):
    """One applier: the chunks handed to it, in order, until None. After a failure (its own or
    another's) it only empties its inbox, so the hand-out never waits on it."""
    try:
        while (orders := inbox.get()) is not None:
            if not failed:
                chunk_apply(run, orders)
    except BaseException as error:  # re-raised by the thread that handed the work out
        failed.append(error)
        while inbox.get() is not None:
            pass
    finally:
        connections.close_all()
