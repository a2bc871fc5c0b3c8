"""The second pass of an ERP import: the orders the first pass checked, applied a chunk per transaction.

A large export is applied by WORKERS appliers side by side, each a process of its own (forked from
the importing one) with its own database connection. An applier spends about two thirds of its time
in Python and one third waiting for PostgreSQL: as threads of one process they took turns at the
one interpreter, so the Python of the whole import ran on one CPU; as processes each has its own, and
the two CPUs a deployment has share the appliers' Python and PostgreSQL's work between them.

Each order goes to the applier its shop order number picks, so all the rows about one order are
applied in file order, by one applier, through the same chunk_apply a single applier uses: only
orders of different numbers interleave differently, and an export (a snapshot of its orders, in no
order that means anything) does not fix theirs anyway. Appliers lock orders and customers in id
order, as the shop's drains and backfills running beside an import do: they may wait for each other,
never in a cycle. The importing process hands the orders out through a pipe to each applier and
hears back its counts (or its error) at the end; each chunk's counts are on the batch as it commits.

One applier, in the importing process, does it all in file order when side by side would not do: a
database other than PostgreSQL (SQLite runs one writer at a time), inside the caller's transaction
(other connections cannot see into it), a file of a few chunks, or an ERP id naming two shop orders
in one file (its record must end with the later row, and the two orders may fall to different
appliers).
"""

import contextlib
import multiprocessing.util
import os
import pickle
import zlib
from dataclasses import replace

from django.db import connection, connections

from integrations.erp.chunks import COUNTS, Tally, chunk_apply
from integrations.erp.pipes import pipe

WORKERS = 2  # appliers side by side: the CPUs a deployment has
SIDE_BY_SIDE_FROM = 4  # chunks: a smaller file gains less than starting the appliers costs


class ApplierDied(RuntimeError):
    """An applier process ended without a word (killed, out of memory)."""


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
    appliers = []
    for _ in range(WORKERS):
        appliers.append(_Applier.start(run, others=list(appliers)))
    pending = [[] for _ in appliers]
    try:
        for orders in checked.chunks():
            for order in orders:
                n = zlib.crc32(order.shop_order_number.encode()) % len(appliers)
                pending[n].append(order)
                if len(pending[n]) == chunk:
                    appliers[n].hand(pending[n])
                    pending[n] = []
            if any(applier.failed() for applier in appliers):
                break
            applied_to(orders[-1].line)
        else:
            for applier, orders in zip(appliers, pending):
                if orders:
                    applier.hand(orders)
    finally:
        outcomes = [applier.finish() for applier in appliers]
    for name in COUNTS:
        setattr(run.tally, name, getattr(run.tally, name) + sum(getattr(tally, name) for tally, _ in outcomes))
    for _, error in outcomes:
        if error is not None:
            raise error


class _Applier:
    """One applier process, as the importing process sees it: a pipe to hand it orders, one to hear
    how it ended."""

    def __init__(self, pid, inbox, outcome):
        self.pid, self.inbox, self.outcome, self.ended, self.exit_code = pid, inbox, outcome, None, None

    @classmethod
    def start(cls, run, others):
        """Fork one; `others`: the appliers started before it, whose pipes it must not hold."""
        # A connection must not cross a fork: the importing process closes its own (it is not in a
        # transaction, apply_checked made sure) and opens a new one when it next needs it.
        connections.close_all()
        inbox_read, inbox = pipe()
        outcome, outcome_write = pipe()
        own = replace(run, tally=Tally(), errors=[], seen=set(), last_error_line=0, meanings={})
        # os.fork, not multiprocessing: an import running in a Celery worker's pool process may not
        # have children by multiprocessing's rules (the pool's processes are daemons).
        pid = os.fork()
        if pid == 0:  # the applier
            code = 1
            try:
                for end in (inbox, outcome, *(end for other in others for end in (other.inbox, other.outcome))):
                    end.close()
                multiprocessing.util._run_after_forkers()  # as multiprocessing's children do: Celery's
                # and kombu's hooks drop the broker connections the parent holds
                _work(own, inbox_read, outcome_write)
                code = 0
            finally:
                os._exit(code)
        inbox_read.close()
        outcome_write.close()  # only the applier holds it now: its death reads as the end of the pipe
        return cls(pid, inbox, outcome)

    def hand(self, orders):
        if self.ended is None:
            try:
                self.inbox.send_bytes(pickle.dumps([tuple(order) for order in orders], pickle.HIGHEST_PROTOCOL))
            except OSError:  # it has gone: how it ended is on its other pipe
                self._hear()

    def failed(self):
        """Whether it has stopped early (it says so as soon as it fails)."""
        if self.ended is None and self.outcome.poll():
            self._hear()
        return self.ended is not None and self.ended[1] is not None

    def finish(self):
        """(its Tally, its error or None), once it has applied all it was handed."""
        if self.ended is None:
            with contextlib.suppress(OSError):
                self.inbox.send_bytes(b"")  # the end of its orders
            self._hear()
        self.inbox.close()
        self._join()
        return self.ended

    def _join(self):
        if self.exit_code is None:
            self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def _hear(self):
        try:
            self.ended = pickle.loads(self.outcome.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            self._join()
            self.ended = (Tally(), ApplierDied(
                f"An applier of the import ended without finishing (exit code {self.exit_code})."))


def _work(run, inbox, outcome):
    """One applier process: the chunks handed to it, in order, until the empty message. A failure is
    told at once; it then only empties its pipe, so handing out never waits on it."""
    from integrations.erp.checked import CheckedOrder

    try:
        while message := inbox.recv_bytes():
            chunk_apply(run, list(map(CheckedOrder._make, pickle.loads(message))))
    except BaseException as error:
        outcome.send_bytes(pickle.dumps((run.tally, _portable(error))))
        with contextlib.suppress(EOFError, OSError):
            while inbox.recv_bytes():
                pass
    else:
        outcome.send_bytes(pickle.dumps((run.tally, None)))
    finally:
        connections.close_all()


def _portable(error):
    """The error as the importing process can take it back: itself, or its words when it cannot be."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
