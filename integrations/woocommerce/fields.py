"""Field parsers for WooCommerce REST v3 values. Pure; re-exported by mappers.py.

The public parsers raise ValueError on garbage; the `require_*`/`field_*` helpers wrap them in
PayloadError naming the field, which is what the mappers let escape.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lifecycle.normalise import normalize_email, normalize_phone  # noqa: F401 (re-exported)
from lifecycle.values import ObservationError

_CENT = Decimal("0.01")  # every WooCommerce total is stored and sent to 2 places


class PayloadError(ObservationError):
    """A required field is missing or malformed; `field` names it (dotted path) for the exception."""



def parse_money(value) -> Decimal:
    """WooCommerce money ("29.35", "-10.00", "") → Decimal to the cent; never through float math.

    Blank means zero (WooCommerce sends "" for unset totals). A JSON number arrives as int or
    float; a float goes through its shortest repr, so 12.5 stays 12.50. Rounds half away from
    zero like PHP's round().
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal("0.00")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"not an amount: {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    try:
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than Decimal's 28 to the cent (1e300): no amount the console holds
        raise ValueError(f"not an amount the console can hold: {value!r}") from None


def parse_gmt(value) -> datetime | None:
    """A *_gmt field ("2017-03-22T19:28:02", UTC without suffix) → aware UTC datetime.

    An explicit offset, if a plugin adds one, is honoured and converted to UTC.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_utc(value) -> datetime | None:
    """A datetime (naive = UTC) or a *_gmt string → aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return parse_gmt(value)


def require_id(payload: Mapping, field: str) -> int:
    # Hook arguments reach {"id": N} bodies as ints or numeric strings, depending on the hook.
    value = payload.get(field)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PayloadError(field, f"expected a positive integer id, got {value!r}")
    return value


def require_str(payload: Mapping, field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(field, f"expected a non-empty string, got {value!r}")
    return value.strip()


def field_money(payload: Mapping, field: str, *, required=False, prefix="") -> Decimal:
    if required and field not in payload:
        raise PayloadError(prefix + field, "missing")
    try:
        return parse_money(payload.get(field))
    except ValueError as exc:
        raise PayloadError(prefix + field, str(exc)) from None


def field_date(payload: Mapping, field: str, *, required=False) -> datetime | None:
    try:
        value = parse_gmt(payload.get(field))
    except ValueError as exc:
        raise PayloadError(field, str(exc)) from None
    if required and value is None:
        raise PayloadError(field, "missing")
    return value


def field_list(payload: Mapping, field: str) -> list:
    value = payload.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(field, f"expected a list, got {type(value).__name__}")
    return value


def field_object(payload: Mapping, field: str) -> Mapping:
    value = payload.get(field)
    if value is None or value == []:  # PHP's json_encode writes an empty array as [], not {}
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(field, f"expected an object, got {type(value).__name__}")
    return value


def text(value) -> str:
    return value.strip() if isinstance(value, str) else ""
