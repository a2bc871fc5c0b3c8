"""Numbers and dates as an ERP export writes them, read strictly in that export's locale.

Strict because a guess is worse than an error here: "1.234" is one thousand two hundred thirty-four in a
German export and one point two three four elsewhere, and "12/01/2025" is December or January depending on
who exported it. So the locale is decided once per file (a `;` file from a German ERP writes `1.234,50`,
others `1,234.50`; the profile may say otherwise) and a value that does not fit it is an error naming the
form expected. Every parser raises ValueError with a sentence; the caller turns it into a row error.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation

# Thousands groups must be whole (3 digits) and use one separator throughout; German exports may group
# with a dot or, like French ones, with a (non-breaking / narrow no-break) space.
_POINT_NUMBER = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?")
_COMMA_NUMBER = re.compile(r"(?P<int>\d{1,3}(?P<sep>[. \u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*|\d+)(?:,(?P<frac>\d+))?")
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
# Day, month and year in some order: 01-12-2025, 01.12.2025, 12/01/2025, with an optional time.
_YEAR_LAST = re.compile(r"(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})"
                        r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<micro>\d{1,6}))?)?)?")


@dataclass(frozen=True)
class Formats:
    """How one file writes numbers and dates.

    decimal_comma: True for `1.234,50`, False for `1,234.50`.
    day_first: for dates written with the year last and `-` or `/` (01-12-2025, 12/01/2025): True when the
        day comes first, False when the month does, None when the file's origin does not say, and such a
        date is then an error instead of a guess. Dotted dates (01.12.2025) are always day first.
    time_zone: the zone of datetimes written without an offset (ERPs export local time).
    """

    decimal_comma: bool = False
    day_first: bool | None = None
    time_zone: tzinfo = UTC


# Most amounts are written plainly (1234.50, 1234,50, 7): read at once, as the patterns below would.
_PLAIN_POINT = re.compile(r"-?\d+(?:\.\d+)?")
_PLAIN_COMMA = re.compile(r"-?\d+(?:,\d+)?")


def parse_decimal(text: str, formats: Formats) -> Decimal:
    """An amount or a percentage in the file's locale → Decimal; a sign may lead or (SAP style) trail."""
    value = text.strip()
    if (_PLAIN_COMMA if formats.decimal_comma else _PLAIN_POINT).fullmatch(value):
        return Decimal(value.replace(",", ".") if formats.decimal_comma else value)
    sign = ""
    if value.startswith(("+", "-")):
        sign, value = value[0], value[1:].lstrip()
    elif value.endswith("-"):
        sign, value = "-", value[:-1].rstrip()
    pattern = _COMMA_NUMBER if formats.decimal_comma else _POINT_NUMBER
    match = pattern.fullmatch(value)
    if not match:
        example = "1.234,50 or 1234,50" if formats.decimal_comma else "1,234.50 or 1234.50"
        raise ValueError(f"“{text.strip()}” is not a number as this file writes them (like {example}).")
    digits = re.sub(r"\D", "", match["int"])
    try:
        return Decimal(f"{'-' if sign == '-' else ''}{digits}" + (f".{match['frac']}" if match["frac"] else ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits digits only
        raise ValueError(f"“{text.strip()}” is not a number.") from None


def parse_datetime(text: str, formats: Formats) -> datetime:
    """A date or date and time → an aware datetime in UTC; a date alone is its midnight in the file's zone.

    Reads ISO (2025-12-01, 2025-12-01 10:37:22, with fractions of a second or an offset, as ERPNext and
    Odoo export), dotted day-first dates (01.12.2025 10:37), and 01-12-2025 or 12/01/2025 when the file's
    day order is known (Formats.day_first).
    """
    value = text.strip()
    if _ISO_START.match(value):
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None and len(value) > 10 and _is_utc(formats.time_zone):
                # The zone's offset written in: a second parse costs a fifth of replace() and astimezone().
                return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            raise ValueError(f"“{value}” is not a real date and time (read as year-month-day).") from None
    elif match := _YEAR_LAST.fullmatch(value):
        parsed = _year_last(match, formats)
    else:
        raise ValueError(f"“{value}” is not a date this import reads (like 2025-12-01 or 2025-12-01 10:37:22).")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=formats.time_zone)
    return parsed.astimezone(UTC)


def _is_utc(zone: tzinfo) -> bool:
    return zone is UTC or getattr(zone, "key", None) == "UTC"


def _year_last(match: re.Match, formats: Formats) -> datetime:
    first, second, year = int(match["a"]), int(match["b"]), int(match["year"])
    day_first = True if match["sep"] == "." else formats.day_first
    if day_first is None:
        raise ValueError(f"“{match.group()}” could be day-month or month-day: set the profile's date order "
                         "(day first or month first) to read it.")
    day, month = (first, second) if day_first else (second, first)
    clock = time(int(match["hour"] or 0), int(match["minute"] or 0), int(match["second"] or 0),
                 int((match["micro"] or "0").ljust(6, "0")))
    try:
        return datetime.combine(date(year, month, day), clock)
    except ValueError:
        order = "day-month-year" if day_first else "month-day-year"
        raise ValueError(f"“{match.group()}” is not a real date (read as {order}).") from None
