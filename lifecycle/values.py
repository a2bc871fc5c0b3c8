"""The plain values systems hand the domain: what one system says about one order or customer.
Pure: no Django. Checked on creation against what the console can hold, so a bad value fails its
own record, with its reason, where it enters (lifecycle.services.observations takes them).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from lifecycle import statuses


class Outcome:
    APPLIED = "applied"
    STALE = "stale"
    IGNORED = "ignored"
    ORPHAN = "orphan"  # about another system's order the console does not have (OrderObservation.of_order)


class ObservationError(ValueError):
    """A value the console cannot hold or trust; `field` names it. Fails that one observation."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


# What the database holds (lifecycle.models): checked where a value enters, so a bad value fails its
# own record with its reason instead of a whole batch's statement.
MAX_LENGTHS = {"namespace": 64, "external_id": 64, "number": 64, "raw_status": 64, "event_ref": 200}
MAX_MONEY = Decimal("1e12")  # DecimalField(max_digits=14, decimal_places=2)
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CustomerRef:
    """How a system names a customer: its account id (None for a guest) and what it knows of them."""

    kind: str = ""  # the identity kind of account_id (lifecycle.models.IdentityKind: woocommerce, crm, erp)
    namespace: str = ""  # where the account id is unique: the store's slug, the CRM portal
    account_id: str | None = None
    email: str = ""  # normalised
    display_name: str = ""
    phone: str = ""  # normalised
    country: str = ""

    def __post_init__(self):
        for name, limit in (("namespace", 64), ("account_id", 254), ("email", 254), ("display_name", 200),
                            ("phone", 32)):
            value = getattr(self, name) or ""
            if len(value) > limit:
                raise ObservationError(f"customer.{name}", f"longer than {limit} characters ({len(value)})")
            if "\x00" in value:
                raise ObservationError(f"customer.{name}", "contains a NUL character")

    @property
    def account_key(self):
        return (self.kind, self.namespace, str(self.account_id)) if self.account_id else None

    def keys(self):
        """The identities a resolve may create, as lock keys (lifecycle.db.locks)."""
        keys = [("identity", *self.account_key)] if self.account_id else []
        return keys + ([("identity", "email", "", self.email)] if self.email else [])


# The marker of a key that names an order by its number (OrderObservation.key).
BY_NUMBER = "#"


@dataclass(frozen=True)
class OrderRef:
    """Another system's order, by the number customers see: the shop's order an ERP row names."""

    system: str  # the system the order was born in (lifecycle.models.System)
    namespace: str  # its store's slug
    number: str

    def __post_init__(self):
        for name in ("system", "namespace", "number"):
            value = getattr(self, name)
            if not isinstance(value, str) or "\x00" in value or len(value) > MAX_LENGTHS["number"]:
                raise ObservationError(f"order.{name}", f"not a value the console can hold: {value!r}")
        if not self.number.strip():
            raise ObservationError("order.number", "missing")


@dataclass(frozen=True)
class OrderObservation:
    """What one system says about one order at one moment. Plain values; validated on creation."""

    system: str  # lifecycle.models.System: who says it
    namespace: str  # the store's slug, the ERP company
    external_id: str  # the order's id in that system
    number: str  # the number customers see
    customer: CustomerRef
    raw_status: str  # as the system spells it
    meaning: str  # a canonical state (lifecycle.statuses), or statuses.IGNORED or statuses.UNMAPPED
    currency: str
    total: Decimal
    refunded_total: Decimal
    placed_at: datetime
    paid_at: datetime | None
    modified_at: datetime  # the system's own clock
    actor: object  # lifecycle.actors.Actor
    source_name: str = ""  # the store or ERP as people call it, for exception summaries
    event_ref: str = ""  # the delivery, row or change that carried it
    note_stale: bool = True  # a late version is noted on the timeline the first time it is seen (not on replays)
    received_at: datetime | None = None  # when the console got it; now when not given
    # Set: the system reports on another system's order (the ERP on the shop's order it names by number),
    # setting only its own source state on it; it never creates one (lifecycle.services.observations).
    of_order: OrderRef | None = None

    def __post_init__(self):
        for name, limit in MAX_LENGTHS.items():
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ObservationError(name, f"expected text, got {type(value).__name__}")
            if len(value) > limit:
                raise ObservationError(name, f"longer than {limit} characters ({len(value)})")
        for name in ("namespace", "external_id", "number", "raw_status", "currency", "source_name", "event_ref"):
            if "\x00" in getattr(self, name):
                raise ObservationError(name, "contains a NUL character")
        if not self.external_id.strip():
            raise ObservationError("external_id", "missing")
        if self.meaning not in statuses.CANONICAL_STATES and self.meaning not in (statuses.IGNORED, statuses.UNMAPPED):
            raise ObservationError("status", f"not a meaning: {self.meaning!r}")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ObservationError("currency", f"not an ISO 4217 code: {self.currency!r}")
        for name in ("total", "refunded_total"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or abs(value) >= MAX_MONEY:
                raise ObservationError(name, f"not an amount the console can hold: {value!r}")
        for name in ("placed_at", "paid_at", "modified_at"):
            value = getattr(self, name)
            if value is None and name == "paid_at":
                continue
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ObservationError(name, "expected an aware date and time")
            if not EARLIEST <= value < LATEST:
                raise ObservationError(name, f"out of range: {value.isoformat()}")

    @property
    def key(self):
        """The order it is about: its own (system, namespace, external_id), or the order it names
        (of_order) as (system, namespace, BY_NUMBER, number)."""
        if self.of_order is not None:
            return self.of_order.system, self.of_order.namespace, BY_NUMBER, self.of_order.number
        return self.system, self.namespace, self.external_id

    @property
    def state(self):
        """The canonical state it reports; None when ignored or unmapped."""
        return self.meaning if self.meaning in statuses.CANONICAL_STATES else None
