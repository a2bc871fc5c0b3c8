"""The first pass of a large import shared with a helper process: the file is read once, its orders
checked by two.

The first pass reads every row and checks every order before anything is applied (a file with
invalid rows is rejected whole by default), on one CPU while the other waited. Splitting the file
into orders takes a fifth of that; folding each order's rows and checking its values (reader.py,
facts.py) the rest, and that is a function of the order's rows alone. So once a file has shown it is
large, the importing process splits it into orders as before and hands two of every three, a window
at a time, to a helper forked from it (the split and its own third keep it as busy as the helper).
The helper folds and checks them the same way (reader.order_items) and keeps the valid ones in
files the importing process opened (checked.py: a part per applier). At the end it tells what it
found: its row errors, how many orders it kept, the last line it saw, the (ERP id, shop order
number) pairs of its orders. The orders are the same, applied in the same (file) order; only the
row errors' counts on the batch's page lag while it reads.

The helper touches no database and no broker, and ends with os._exit: it never closes (and so never
ends the session of) a connection it inherited. A helper that dies fails the import before anything
is applied (ReaderDied): importing the file again starts over.
"""

import contextlib
import logging
import os
import pickle
import tempfile
from collections.abc import Iterator
from typing import NamedTuple

from integrations.erp.checked import PARTS, CheckedOrders
from integrations.erp.errors import ErpFileError, RowError
from integrations.erp.pipes import pipe

log = logging.getLogger(__name__)
HELPER_FROM = 4_000  # orders read before the helper starts: a smaller file gains less than starting it costs
WINDOW = 200  # orders handed over at a time
HELPED = 2  # of every SHARE orders, the helper checks HELPED: the importing process also splits the file
SHARE = 3


class ReaderDied(RuntimeError):
    """The helper ended without a word (killed, out of memory)."""


class HelperShare(NamedTuple):
    """What the helper found in its share of the file, given after the importing process's own items."""

    errors: Iterator[RowError]  # in line order, read once
    orders: int  # valid orders kept
    last_line: int  # the last line it read, as the importing process counts lines read (0: none)
    numbers: list  # (ERP id, shop order number) of its valid orders, each pair once
    kept: CheckedOrders  # its valid orders, for CheckedOrders.adopt


def read_shared(reading, chunk):
    """Iterate the reading's items (reader.OrderReader) as it does, except that once HELPER_FROM orders
    are read a helper checks most of the rest: their items are not among these, and the last item is
    then the HelperShare of them."""
    helper, count, unreadable = None, 0, None
    try:
        try:
            for group in reading.groups():
                if isinstance(group, RowError):
                    yield group
                    continue
                count += 1
                if helper is None and count > HELPER_FROM and hasattr(os, "fork"):
                    helper = _Helper.start(reading, chunk)
                if helper is not None and count % SHARE < HELPED:
                    helper.hand(group)
                else:
                    yield from reading.order_items(group)
        except ErpFileError as error:  # unreadable further on (a binary tail): the rows before it still count
            unreadable = error
        if helper is not None:
            share, helper = helper.finish(), None
            yield share
        if unreadable is not None:
            raise unreadable
    finally:
        if helper is not None:
            helper.stop()


class _Helper:
    def __init__(self, pid, inbox, outcome, kept, errors, chunk):
        self.pid, self.inbox, self.outcome, self.kept, self.errors = pid, inbox, outcome, kept, errors
        self.chunk, self.window = chunk, []

    @classmethod
    def start(cls, reading, chunk):
        kept, errors = [tempfile.TemporaryFile() for _ in range(PARTS)], tempfile.TemporaryFile()
        inbox_read, inbox = pipe()
        outcome, outcome_write = pipe()
        pid = os.fork()
        if pid == 0:  # the helper
            code = 1
            try:
                inbox.close()
                outcome.close()
                _work(reading, inbox_read, outcome_write, CheckedOrders(chunk, kept), errors)
                code = 0
            except BaseException:
                log.exception("The helper reading an ERP export failed")  # its exit alone would not say why
            finally:
                os._exit(code)
        inbox_read.close()
        outcome_write.close()
        return cls(pid, inbox, outcome, kept, errors, chunk)

    def hand(self, group):
        self.window.append(group)
        if len(self.window) == WINDOW:
            self._send()

    def _send(self):
        try:
            self.inbox.send_bytes(pickle.dumps(self.window, pickle.HIGHEST_PROTOCOL))
        except OSError:
            raise self._died() from None
        self.window = []

    def finish(self):
        if self.window:
            self._send()
        try:
            self.inbox.send_bytes(b"")  # the end of its share
            orders, last_line, numbers = pickle.loads(self.outcome.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._died() from None
        self._wait()
        return HelperShare(self._errors(), orders, last_line, numbers, CheckedOrders(self.chunk, self.kept))

    def _errors(self):
        """Its row errors as it wrote them, a window's at a time (a file of errors need not fit in memory)."""
        self.errors.seek(0)
        with contextlib.suppress(EOFError):
            while True:
                yield from pickle.load(self.errors)
        self.errors.close()

    def stop(self):
        """End it early (the reading failed): it ends at the end of its pipe."""
        for end in (self.inbox, self.outcome, *self.kept, self.errors):
            end.close()
        self._wait()

    def _wait(self):
        with contextlib.suppress(ChildProcessError):
            return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def _died(self):
        self.inbox.close()
        code = self._wait()
        return ReaderDied(f"The helper reading the file ended without finishing (exit code {code}); nothing "
                          "was applied. Import the file again.")


def _work(reading, inbox, outcome, kept, errors):
    """The helper: each window's orders folded and checked, the valid ones kept, the errors written;
    at the end of its pipe, what it kept."""
    orders, last_line, numbers = 0, 0, set()
    with contextlib.suppress(EOFError, OSError):
        while message := inbox.recv_bytes():
            found = []
            for group in pickle.loads(message):
                for item in reading.order_items(group):
                    if isinstance(item, RowError):
                        found.append(item)
                        last_line = max(last_line, item.line)
                    else:
                        kept.add(item)
                        orders += 1
                        last_line = max(last_line, item.line + item.rows - 1)
                        numbers.add((item.erp_id, item.shop_order_number))
            if found:
                pickle.dump(found, errors, pickle.HIGHEST_PROTOCOL)
        kept.flush()
        errors.flush()
        outcome.send_bytes(pickle.dumps((orders, last_line, list(numbers)), pickle.HIGHEST_PROTOCOL))
