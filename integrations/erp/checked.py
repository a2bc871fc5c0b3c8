"""The orders an import's first pass checked, kept for its second pass so the file is parsed once.

The first pass reads and checks every row before anything is applied (a file with invalid rows is
rejected whole by default, so every error must be known first); parsing the export was a fifth of
an import's time, and the second pass used to parse it all again. Instead the first pass keeps the
facts of each valid order (the fields the apply uses, not the raw row), a chunk at a time, in a
temporary file that stays in memory while small and moves to disk when large: memory stays flat
however long the export is, as the reader's does.
"""

import heapq
import itertools
import operator
import pickle
import tempfile
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

# Bytes kept in memory before the file moves to disk: some 80,000 orders, a few times less than the
# export they came from.
IN_MEMORY = 16 * 2**20


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


class CheckedOrders:
    """Add ParsedOrders in file order; read them back as lists of `chunk` CheckedOrders, once.

    `file`: where to keep them (a helper reading part of the file keeps its share in a file the
    importing process opened, helper.py); else a temporary one. `adopt` takes another's orders in: they
    are read back merged with these in file order (by line)."""

    def __init__(self, chunk, file=None):
        self._file = file if file is not None else tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)
        self._chunk, self._pending, self._adopted = chunk, [], []

    def add(self, parsed):
        self._pending.append((parsed.line, parsed.erp_id, parsed.shop_order_number, parsed.raw_status, parsed.total,
                              parsed.currency, parsed.observed_at, parsed.placed_at, parsed.customer_email))
        if len(self._pending) == self._chunk:
            self.flush()

    def adopt(self, other):
        other.flush()
        self._adopted.append(other)

    def flush(self):
        if self._pending:  # plain tuples: pickled without a class reference per order
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []
            self._file.flush()

    def chunks(self):
        self.flush()
        kept = [self._kept(), *(other._kept() for other in self._adopted)]
        orders = heapq.merge(*kept, key=operator.itemgetter(0)) if len(kept) > 1 else kept[0]
        while batch := list(itertools.islice(orders, self._chunk)):
            yield list(map(CheckedOrder._make, batch))
        self.close()

    def _kept(self):
        self._file.seek(0)
        while True:
            try:
                yield from pickle.load(self._file)
            except EOFError:
                return

    def close(self):
        self._file.close()
        for other in self._adopted:
            other.close()
