"""The orders an import's first pass checked, kept for its second pass so the file is parsed once.

The first pass reads and checks every row before anything is applied (a file with invalid rows is
rejected whole by default, so every error must be known first); parsing the export was a fifth of
an import's time, and the second pass used to parse it all again. Instead the first pass keeps the
facts of each valid order (the fields the apply uses, not the raw row), a chunk at a time, in a
temporary file that stays in memory while small and moves to disk when large: memory stays flat
however long the export is, as the reader's does.
"""

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
    """Add ParsedOrders in file order; read them back as lists of `chunk` CheckedOrders, once."""

    def __init__(self, chunk):
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)
        self._chunk, self._pending = chunk, []

    def add(self, parsed):
        self._pending.append((parsed.line, parsed.erp_id, parsed.shop_order_number, parsed.raw_status, parsed.total,
                              parsed.currency, parsed.observed_at, parsed.placed_at, parsed.customer_email))
        if len(self._pending) == self._chunk:
            self._flush()

    def _flush(self):
        if self._pending:  # plain tuples: pickled without a class reference per order
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []

    def chunks(self):
        self._flush()
        self._file.seek(0)
        while True:
            try:
                kept = pickle.load(self._file)
            except EOFError:
                break
            yield list(map(CheckedOrder._make, kept))
        self.close()

    def close(self):
        self._file.close()
