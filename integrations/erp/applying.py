"""The second pass of an ERP import: the orders the first pass checked, applied a chunk per transaction.

A large export is applied by WORKERS appliers side by side, each a process of its own (forked from
the importing one) with its own database connection. An applier spends about two thirds of its time
in Python and one third waiting for PostgreSQL: as threads of one process they took turns at the
one interpreter, so the Python of the whole import ran on one CPU; as processes each has its own, and
the two CPUs a deployment has share the appliers' Python and PostgreSQL's work between them.

Each order goes to the applier its shop order number picks (checked.part_of), so all the rows about
one order are applied in file order, by one applier, through the same chunk_apply a single applier
uses: only orders of different numbers interleave differently, and an export (a snapshot of its
orders, in no order that means anything) does not fix theirs anyway. Appliers lock orders and customers in id
order, as the shop's drains and backfills running beside an import do: they may wait for each other,
never in a cycle. The first pass already kept each applier's orders apart (checked.py: one part per
applier), so an applier reads its own part from the first pass's files, nothing is handed out; it
tells the importing process the last line of each chunk it commits (how far the apply is) and, at
the end, its counts or its error. One failing stops the others after their current chunk; each
chunk's counts are on the batch as it commits.

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
from dataclasses import replace
from multiprocessing.connection import wait

from django.db import connection, connections

from integrations.erp.checked import PARTS
from integrations.erp.chunks import COUNTS, Tally, chunk_apply
from integrations.erp.pipes import pipe

WORKERS = PARTS  # appliers side by side, one per part of the checked orders: the CPUs a deployment has
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
    _side_by_side(run, checked, applied_to)


def _side_by_side(run, checked, applied_to):
    checked.flush()  # before the fork: each applier reads its part as the importing process left it
    appliers = []
    try:
        for part in range(WORKERS):
            appliers.append(_Applier.start(run, checked, part, others=list(appliers)))
        while running := {applier.outcome: applier for applier in appliers if applier.ended is None}:
            for outcome in wait(list(running)):
                running[outcome].hear()
                if running[outcome].failed():
                    for other in running.values():
                        other.stop()
            # how far into the file: where the applier furthest behind is
            applied_to(min((a.reached for a in appliers if a.ended is None), default=run.batch.lines_read))
    finally:
        for applier in appliers:
            applier.finish()
        checked.close()
    for name in COUNTS:
        setattr(run.tally, name, getattr(run.tally, name) + sum(getattr(a.ended[0], name) for a in appliers))
    for applier in appliers:
        if applier.ended[1] is not None:
            raise applier.ended[1]


class _Applier:
    """One applier process, as the importing process sees it: a pipe to stop it early, one to hear
    how far it is and how it ended."""

    def __init__(self, pid, inbox, outcome):
        self.pid, self.inbox, self.outcome = pid, inbox, outcome
        self.reached, self.ended, self.exit_code = 0, None, None

    @classmethod
    def start(cls, run, checked, part, others):
        """Fork one to apply `part` of the checked orders; `others`: the appliers started before it,
        whose pipes it must not hold."""
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
                _work(own, checked.chunks(part), inbox_read, outcome_write)
                code = 0
            finally:
                os._exit(code)
        inbox_read.close()
        outcome_write.close()  # only the applier holds it now: its death reads as the end of the pipe
        return cls(pid, inbox, outcome)

    def hear(self):
        """Its next word: how far it has applied, or how it ended."""
        try:
            word = pickle.loads(self.outcome.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            self._join()
            word = ("ended", Tally(), ApplierDied(
                f"An applier of the import ended without finishing (exit code {self.exit_code})."))
        if word[0] == "applied":
            self.reached = word[1]
        else:
            self.ended = word[1:]

    def failed(self):
        return self.ended is not None and self.ended[1] is not None

    def stop(self):
        """Ask it to stop after the chunk it is applying (another failed)."""
        if self.ended is None:
            with contextlib.suppress(OSError):
                self.inbox.send_bytes(b"stop")

    def finish(self):
        """Wait for it to end (stopping it first when the importing process is failing)."""
        self.stop()
        while self.ended is None:
            self.hear()
        self.inbox.close()
        self.outcome.close()
        self._join()

    def _join(self):
        if self.exit_code is None:
            self.exit_code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _work(run, chunks, inbox, outcome):
    """One applier process: its part's chunks, in file order, each told as it commits, until they
    end or it is asked to stop; then its counts and its error (None when it had none)."""
    error = None
    try:
        for orders in chunks:
            if inbox.poll():
                break  # another applier failed: stop here
            chunk_apply(run, orders)
            outcome.send_bytes(pickle.dumps(("applied", orders[-1].line)))
    except BaseException as failure:
        error = _portable(failure)
    finally:
        connections.close_all()
    outcome.send_bytes(pickle.dumps(("ended", run.tally, error)))


def _portable(error):
    """The error as the importing process can take it back: itself, or its words when it cannot be."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
