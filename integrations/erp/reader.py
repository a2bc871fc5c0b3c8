"""An ERP export read as a stream of orders and row errors: the entry point of the ERP import.

    reading = read_orders(uploaded_file)                 # raises ErpFileError: refuse the file whole
    reading.header.profile, reading.header.reason        # which profile, and why (detected or chosen)
    for item in reading:                                 # may raise ErpFileError mid-file (binary tail)
        ParsedOrder → one order's facts; RowError → one bad value or row (the order is not among the orders)

Line rows (ERPNext's `items`, Odoo's order lines) are folded into their order: a row starts a new order
when its id column (the ERP's order id, else the shop order number) has a new value; a row whose order
columns are all empty, or that repeats the current id, continues the order above it. The file is read
once, in order, holding one order at a time, so memory stays flat however long the file is. The same
order id appearing again further down is a second order here: the importer decides what that means.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import BinaryIO, NamedTuple
from zoneinfo import ZoneInfo

from integrations.erp.csvfile import CsvFile, open_csv
from integrations.erp.errors import ColumnsError, RowError
from integrations.erp.facts import order_facts
from integrations.erp.parsing import Formats
from integrations.erp.profiles import Profile, detect_profile, get_profile, match_columns


class ParsedOrder(NamedTuple):
    """One valid order of the file, with the line of its first row and how many rows it spans: its
    OrderFacts' fields between `rows` and `values`, in their order."""

    line: int
    rows: int
    erp_id: str
    shop_order_number: str
    raw_status: str
    total: Decimal
    currency: str
    observed_at: datetime | None
    placed_at: datetime | None
    customer_email: str | None
    details: Mapping[str, Decimal]
    values: Mapping[str, str]  # raw: the first row by header, order columns filled from its other rows


@dataclass(frozen=True)
class Header:
    """What the header row decided: the profile (and whether it was detected), the columns it reads."""

    profile: Profile
    detected: bool
    reason: str
    columns: Mapping[str, str]  # profile field → the file's header
    headers: tuple[str, ...]
    delimiter: str
    formats: Formats


class _Order:
    """The order being folded: its values by field, the line each came from, its raw row, its errors."""

    __slots__ = ("errors", "key", "line", "orphan", "raw", "rows", "sources", "values")

    def __init__(self, line: int, key: str, row: dict, orphan: bool = False):
        self.line, self.rows, self.key, self.raw, self.orphan = line, 0, key, dict(row), orphan
        self.values, self.sources, self.errors = {}, {}, []


class OrderReader:
    """Iterate once for ParsedOrder and RowError items, in file order."""

    def __init__(self, csv_file: CsvFile, header: Header):
        self.header, self._file = header, csv_file
        self._key = header.columns.get("erp_id") or header.columns["shop_order_number"]

    @property
    def encoding(self) -> str:
        return self._file.encoding

    def __iter__(self) -> Iterator["ParsedOrder | RowError"]:
        for group in self.groups():
            if isinstance(group, RowError):
                yield group
            else:
                yield from self.order_items(group)

    def groups(self) -> Iterator["list[tuple[int, dict]] | RowError"]:
        """Each order's rows [(line, row)] (its first, then its line rows), as it ends; a row that
        belongs to no order, as its error. What order_items then reads as one order."""
        key_column, rows, key = self._key, None, None
        order_columns = tuple(dict.fromkeys(self.header.columns.values()))
        for line, row in self._file:  # every row holds every header (csvfile fills short rows)
            row_key = row[key_column].strip()
            if row_key and (rows is None or row_key != key):
                if rows is not None:
                    yield rows
                rows, key = [(line, row)], row_key
            elif row_key:
                rows.append((line, row))  # the same id again: a line row repeating its order's columns
            elif "".join(map(row.__getitem__, order_columns)).strip():
                if rows is not None:
                    yield rows
                rows, key = [(line, row)], ""  # order values without an id: an order of its own, in error
            elif rows is None:
                yield RowError(line, key_column, "", "This row continues an order, but no order starts above it.")
            else:
                rows.append((line, row))  # a line row with its order columns empty
        if rows is not None:
            yield rows

    def order_items(self, rows: "list[tuple[int, dict]]") -> Iterator["ParsedOrder | RowError"]:
        """One order's rows (as groups gives them) → its ParsedOrder, or its row errors in line order."""
        key_column = self._key
        first, row = rows[0]
        key = row[key_column].strip()
        order = _Order(first, key, row, orphan=not key)
        if not key:
            order.errors.append(RowError(first, key_column, "", f"This row has order values but no "
                                         f"{key_column}, so it belongs to no order; nor do its line rows."))
        for line, row in rows:
            self._count(order, line, row)
            if line == first or row[key_column].strip():
                self._fold(order, line, row)  # a line row with its order columns empty has nothing to fold
        yield from self._finish(order)

    @staticmethod
    def _count(order: _Order, line: int, row: dict):
        order.rows += 1
        if None in row:
            extra = [cell.strip() for cell in row[None] if cell.strip()]
            order.errors.append(RowError(line, None, ", ".join(extra), f"This row has {len(row[None])} more "
                                         "values than the header has columns; check its quotes and delimiters."))

    def _fold(self, order: _Order, line: int, row: dict):
        for name, column in self.header.columns.items():
            value = row[column].strip()
            if not value:
                continue
            if name not in order.values:
                order.values[name], order.sources[name] = value, line
                order.raw[column] = row[column]
            elif value != order.values[name]:
                order.errors.append(RowError(line, column, value, f"Differs from “{order.values[name]}” on line "
                                             f"{order.sources[name]} for the same order; an order has one."))

    def _finish(self, order: _Order) -> Iterator["ParsedOrder | RowError"]:
        errors = order.errors
        if not order.orphan:
            facts, problems = order_facts(self.header.profile, order.values, self.header.formats)
            errors = errors + [RowError(order.sources.get(p.field, order.line), self.header.columns.get(p.field),
                                        p.value, p.message) for p in problems]
            if not errors:
                yield ParsedOrder(order.line, order.rows, *facts, order.raw)
                return
        yield from sorted(errors, key=lambda error: error.line)


def read_orders(fileobj: BinaryIO, profile: "Profile | str | None" = None,
                column_overrides: Mapping[str, Mapping[str, str | Sequence[str]]] | None = None, *,
                time_zone: "str | tzinfo" = "UTC", day_first: bool | None = None,
                decimal_comma: bool | None = None) -> OrderReader:
    """Open an export (a binary file object) and decide its profile; iterate the result for its orders.

    profile: "erpnext", "odoo", "generic" (or a Profile); None detects it from the header row.
    column_overrides: operations' column names, keyed by profile key, then field: {"erpnext": {
        "shop_order_number": "Shop Order"}}.
    time_zone: the zone of the ERP's datetimes written without an offset.
    day_first, decimal_comma: how the file writes dates and numbers when the profile (and, for numbers,
        the delimiter: `;` means 1.234,50) should not decide (parsing.Formats).
    Raises NotCsvError / ErpFileError when the file is not a CSV export, ColumnsError when a required
    column is missing or no profile matches; then nothing of the file is imported.
    """
    csv_file = open_csv(fileobj)
    overrides = column_overrides or {}
    if profile is None:
        detection = detect_profile(csv_file.headers, overrides)
        if detection.profile is None and detection.closest is None:
            raise ColumnsError(f"{detection.reason} Choose the profile and map its columns.", profile=None,
                               missing=[], expected=[], found=list(csv_file.headers))
        chosen, reason = detection.profile or detection.closest, detection.reason
    else:
        chosen = get_profile(profile)
        reason = f"{chosen.title}, as chosen."
    columns = match_columns(chosen, csv_file.headers, overrides.get(chosen.key))
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    formats = Formats(
        decimal_comma=next(v for v in (decimal_comma, chosen.decimal_comma, csv_file.delimiter == ";")
                           if v is not None),
        day_first=chosen.day_first if day_first is None else day_first, time_zone=zone)
    header = Header(profile=chosen, detected=profile is None, reason=reason, columns=columns,
                    headers=tuple(csv_file.headers), delimiter=csv_file.delimiter, formats=formats)
    return OrderReader(csv_file, header)
