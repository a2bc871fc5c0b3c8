"""The orders an import's first pass checked, kept for its second pass so the file is parsed once.

The first pass reads and checks every row before anything is applied (a file with invalid rows is
rejected whole by default, so every error must be known first); parsing the export was a fifth of
an import's time, and the second pass used to parse it all again. Instead the first pass keeps the
facts of each valid order (the fields the apply uses, not the raw row), a chunk at a time, in
temporary files that stay in memory while small and move to disk when large: memory stays flat
however long the export is, as the reader's does. One file per part: the orders each applier of a
large file applies (applying.py), apart from the start, so no order is handed out a second time.
"""

import heapq
import itertools
import operator
import pickle
import tempfile
import zlib
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

# Bytes kept in memory before the file moves to disk: some 80,000 orders, a few times less than the
# export they came from.
IN_MEMORY = 16 * 2**20
PARTS = 2  # the parts orders are kept in: one per applier of a large file (applying.py)


class CheckedOrder(NamedTuple):
    """One valid order as the apply needs it (reader.ParsedOrder without its raw values)."""

    line: int
    erp_id: str
    shop_order_number: str
    raw_status: str
    total: Decimal
    currency: str
    observed_at: datetime | None
    placed_at: datetime | None
    customer_email: str | None


def part_of(shop_order_number):
    """The part an order is kept in (and the applier that applies it, applying.py): its shop order
    number's, so all the rows about one order are in one part, in file order."""
    return zlib.crc32(shop_order_number.encode()) % PARTS


class CheckedOrders:
    """Add ParsedOrders in file order; read them back as lists of `chunk` CheckedOrders, once: all
    of them, or one part's (an applier's).

    `files`: where to keep each part (a helper reading part of the file keeps its orders in files the
    importing process opened, helper.py); else temporary ones. `adopt` takes another's orders in:
    they are read back merged with these in file order (by line)."""

    def __init__(self, chunk, files=None):
        self._files = files or [tempfile.SpooledTemporaryFile(max_size=IN_MEMORY // PARTS) for _ in range(PARTS)]
        self._chunk, self._pending, self._adopted = chunk, [[] for _ in range(PARTS)], []

    def add(self, parsed):
        part = part_of(parsed.shop_order_number)
        pending = self._pending[part]
        pending.append((parsed.line, parsed.erp_id, parsed.shop_order_number, parsed.raw_status, parsed.total,
                        parsed.currency, parsed.observed_at, parsed.placed_at, parsed.customer_email))
        if len(pending) == self._chunk:
            self._flush(part)

    def adopt(self, other):
        other.flush()
        self._adopted.append(other)

    def flush(self):
        for part in range(PARTS):
            self._flush(part)

    def _flush(self, part):
        pending, file = self._pending[part], self._files[part]
        if pending:  # plain tuples: pickled without a class reference per order
            pickle.dump(pending, file, protocol=pickle.HIGHEST_PROTOCOL)
            pending.clear()
            file.flush()

    def chunks(self, part=None):
        """Lists of `chunk` orders in file order: every part's, or `part`'s. Once: the files close after."""
        self.flush()
        parts = range(PARTS) if part is None else [part]
        kept = [source._kept(p) for source in (self, *self._adopted) for p in parts]
        orders = heapq.merge(*kept, key=operator.itemgetter(0)) if len(kept) > 1 else kept[0]
        while batch := list(itertools.islice(orders, self._chunk)):
            yield list(map(CheckedOrder._make, batch))
        self.close()

    def _kept(self, part):
        file = self._files[part]
        file.seek(0)
        while True:
            try:
                yield from pickle.load(file)
            except EOFError:
                return

    def close(self):
        for file in self._files:
            file.close()
        for other in self._adopted:
            other.close()
