"""One order's values (after its line rows are folded in) → the facts the console keeps about it.

Each value is checked here against what the console can hold (lifecycle.values), so a value that would
fail later fails now, as a problem naming its field, with a sentence: an import preview lists it with its
line instead of an apply failing on it. Nothing here raises for bad data.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from decimal import ROUND_HALF_UP, Decimal

from integrations.erp.parsing import Formats, parse_datetime, parse_decimal
from integrations.erp.profiles import Profile
from lifecycle.normalise import normalize_email
from lifecycle.values import EARLIEST, LATEST, MAX_LENGTHS, MAX_MONEY

_CENT = Decimal("0.01")  # orders hold money to the cent (lifecycle.models.orders: decimal_places=2)
_CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217, as OrderObservation requires
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MAX_EMAIL = 254  # lifecycle.values.CustomerRef
_NAMES = {"shop_order_number": "shop order number", "status": "status", "total": "total", "currency": "currency"}


class OrderFacts(NamedTuple):
    """What one ERP order says, in plain values (the profile's function of its raw values). A named
    tuple, as ParsedOrder: made once per order of a file, where a frozen dataclass's __init__ cost
    a tenth of reading it."""

    erp_id: str  # the order's id in the ERP (ERPNext ID, Odoo Order Reference); the shop number if not exported
    shop_order_number: str  # the number the shop shows customers ("#1042" reads as "1042")
    raw_status: str  # as the ERP spells it; a combination for ERPNext and Odoo (profiles.py)
    total: Decimal  # to the cent
    currency: str  # ISO 4217, upper case
    observed_at: datetime | None  # the ERP's last change of the order, aware UTC; None when not exported
    placed_at: datetime | None  # the order's date in the ERP, aware UTC
    customer_email: str | None  # normalised
    details: Mapping[str, Decimal]  # the profile's optional figures: ERPNext's per_delivered, per_billed


@dataclass(frozen=True)
class Problem:
    """A value that cannot be kept: the profile field, the value as written, a sentence."""

    field: str
    value: str
    message: str


def order_facts(profile: Profile, values: Mapping[str, str], formats: Formats) \
        -> tuple[OrderFacts | None, list[Problem]]:
    """Facts from one order's values by profile field ("" when the column is absent or empty).

    Returns the facts, or None and every problem found (all of them, so one preview shows them at once).
    """
    problems: list[Problem] = []
    number = _check(problems, values, "shop_order_number", _number, required=True)
    erp_id = _check(problems, values, "erp_id", _text, "external_id")
    # The raw status may combine several columns (profiles.py); it is checked whole, reported on the status.
    raw_status = _check(problems, values, "status", _status, profile, values, required=True)
    total = _check(problems, values, "total", _amount, formats, required=True)
    currency = _check(problems, values, "currency", _currency, required=True)
    observed_at = _check(problems, values, "observed_at", _datetime, formats)
    placed_at = _check(problems, values, "placed_at", _datetime, formats)
    email = _check(problems, values, "customer_email", _email)
    details = {name: _check(problems, values, name, parse_decimal, formats) for name in profile.details}
    if problems:
        return None, problems
    return OrderFacts(erp_id=erp_id or number, shop_order_number=number, raw_status=raw_status, total=total,
                      currency=currency, observed_at=observed_at, placed_at=placed_at, customer_email=email,
                      details={name: value for name, value in details.items() if value is not None}), []


def _check(problems, values, name, read, *args, required=False):
    """`read(value, *args)` of the field's value; None, with its problem noted, when it is empty but
    required or does not read. A plain function, not a closure per order: this runs ten times a row."""
    value = values.get(name, "")
    if not value:
        if required:
            problems.append(Problem(name, "", f"No {_NAMES[name]}: this column is empty on every row of the order."))
        return None
    try:
        return read(value, *args)
    except ValueError as error:
        problems.append(Problem(name, value, str(error)))
        return None


def _number(value: str) -> str:
    return _text(value.removeprefix("#").strip(), "number")


def _status(_: str, profile: Profile, values: Mapping[str, str]) -> str:
    return _text(profile.status(values), "raw_status")


def _amount(value: str, formats: Formats) -> Decimal:
    return _money(parse_decimal(value, formats))


def _datetime(value: str, formats: Formats) -> datetime:
    return _moment(parse_datetime(value, formats))


def _text(value: str, kind: str) -> str:
    limit = MAX_LENGTHS[kind]
    if len(value) > limit:
        raise ValueError(f"Longer than the {limit} characters the console keeps ({len(value)}).")
    return value


def _money(amount: Decimal) -> Decimal:
    if abs(amount) >= MAX_MONEY:
        raise ValueError(f"{amount} is more than the console holds (less than {MAX_MONEY:,.0f}).")
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _currency(value: str) -> str:
    code = value.upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"“{value}” is not a three-letter currency code (like EUR or USD).")
    return code


def _moment(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{moment:%Y-%m-%d} is outside the years the console keeps (1970 to 2999).")
    return moment


def _email(value: str) -> str:
    email = normalize_email(value)
    if len(email) > _MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise ValueError(f"“{value}” is not an email address.")
    return email
