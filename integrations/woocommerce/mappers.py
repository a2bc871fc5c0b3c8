"""WooCommerce REST v3 payloads → plain domain arguments. Pure: no database, network or Django.

Webhook bodies for order.* / customer.* are the REST v3 resource itself (WC_Webhook builds them
with get_endpoint_data("/wc/v3/orders/<id>")), except *.deleted, which carries only {"id": N}.
order_observation and customer_ref turn them into the domain's values (lifecycle.services.observations,
customers), which decide what they do; nothing here does.
Status mapping lives in statuses.py and field parsing in fields.py; both are re-exported here
so callers need one import.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from integrations.woocommerce.fields import (
    PayloadError,
    as_utc,
    field_date,
    field_list,
    field_money,
    field_object,
    normalize_email,
    normalize_phone,
    parse_gmt,
    parse_money,
    require_id,
    require_str,
    text,
)
from lifecycle import values as domain
from lifecycle.values import ObservationError, OrderObservation
from integrations.woocommerce.statuses import (
    CANONICAL,
    CANONICAL_STATES,
    COMPLETED,
    DEFAULT_STATUS_MAP,
    DELIVERED,
    FULFILLING,
    IGNORE,
    IGNORED,
    PAID,
    PARTIALLY_REFUNDED,
    SHIPPED,
    SYSTEM,
    UNMAPPED,
    StatusResult,
    map_status,
)

__all__ = [
    "CANONICAL", "CANONICAL_STATES", "DEFAULT_STATUS_MAP", "IGNORE", "IGNORED", "UNMAPPED",
    "CustomerData", "CustomerRef", "OrderData", "PayloadError", "StatusResult",
    "customer_ref", "dedupe_key", "is_newer", "map_customer", "map_deleted", "map_order", "map_status",
    "normalize_email", "normalize_phone", "order_observation", "parse_gmt", "parse_money",
]

# WooCommerce keeps "processing"/"completed" (or a plugin's "shipped") after a partial refund
# and only fires order.updated. These are the states Order.mark_partially_refunded accepts.
_PARTIAL_REFUND_FROM = frozenset({PAID, FULFILLING, SHIPPED, DELIVERED, COMPLETED})


@dataclass(frozen=True)
class CustomerRef:
    """Who placed an order, from the order's billing block."""

    woocommerce_id: int | None  # None for a guest (customer_id 0)
    email: str  # normalised
    first_name: str
    last_name: str
    display_name: str
    phone_raw: str
    phone: str  # normalised
    country: str
    company: str

    @property
    def is_guest(self) -> bool:
        return self.woocommerce_id is None


@dataclass(frozen=True)
class OrderData:
    store_slug: str
    external_id: str
    number: str
    raw_status: str
    status: StatusResult
    currency: str
    total: Decimal
    refunded_total: Decimal  # positive: sum of |refunds[].total|
    refund_count: int
    placed_at: datetime
    paid_at: datetime | None
    completed_at: datetime | None
    modified_at: datetime
    customer: CustomerRef
    line_item_count: int

    @property
    def is_partially_refunded(self) -> bool:
        return self.refund_count > 0 and Decimal("0") < self.refunded_total < self.total

    @property
    def canonical_state(self) -> str | None:
        """The state to move the order to; None when the status is ignored or unmapped."""
        if self.status.outcome != CANONICAL:
            return None
        if self.status.state in _PARTIAL_REFUND_FROM and self.is_partially_refunded:
            return PARTIALLY_REFUNDED
        return self.status.state


@dataclass(frozen=True)
class CustomerData:
    woocommerce_id: int
    email: str  # normalised
    first_name: str
    last_name: str
    display_name: str
    username: str
    role: str
    phone_raw: str
    phone: str  # normalised
    country: str
    company: str
    is_paying_customer: bool
    created_at: datetime | None
    modified_at: datetime | None


def map_order(payload: dict, *, store_slug: str, status_map: Mapping[str, str]) -> OrderData:
    """An order resource (webhook body or REST response) → OrderData; PayloadError names a bad field.

    `status_map` has no default on purpose: the caller passes the store's current mapping.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("(body)", "an order must be a JSON object")
    order_id = require_id(payload, "id")
    raw_status = require_str(payload, "status")
    currency = require_str(payload, "currency").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PayloadError("currency", f"not an ISO 4217 code: {payload['currency']!r}")
    refunds = field_list(payload, "refunds")
    refunded = Decimal("0.00")
    for i, refund in enumerate(refunds):
        if not isinstance(refund, Mapping):
            raise PayloadError(f"refunds[{i}]", "a refund must be an object")
        refunded += abs(field_money(refund, "total", required=True, prefix=f"refunds[{i}]."))
    number = payload.get("number")
    return OrderData(
        store_slug=store_slug,
        external_id=str(order_id),
        # WooCommerce's get_order_number() defaults to the id; plugins may rewrite it.
        number=str(number).strip() if number not in (None, "") else str(order_id),
        raw_status=raw_status,
        status=map_status(raw_status, status_map),
        currency=currency,
        total=field_money(payload, "total", required=True),
        refunded_total=refunded,
        refund_count=len(refunds),
        placed_at=field_date(payload, "date_created_gmt", required=True),
        paid_at=field_date(payload, "date_paid_gmt"),
        completed_at=field_date(payload, "date_completed_gmt"),
        # Required: without it the out-of-order rule (is_newer) cannot be applied.
        modified_at=field_date(payload, "date_modified_gmt", required=True),
        customer=_customer_ref(payload),
        line_item_count=len(field_list(payload, "line_items")),
    )


def map_customer(payload: dict) -> CustomerData:
    """A customer resource (customer.created/updated body or REST response) → CustomerData.

    Top-level names and email win; the billing block fills gaps (guest-turned-account customers
    often have only billing details).
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("(body)", "a customer must be a JSON object")
    billing = field_object(payload, "billing")
    first = text(payload.get("first_name")) or text(billing.get("first_name"))
    last = text(payload.get("last_name")) or text(billing.get("last_name"))
    email = normalize_email(payload.get("email")) or normalize_email(billing.get("email"))
    phone_raw, company = text(billing.get("phone")), text(billing.get("company"))
    return CustomerData(
        woocommerce_id=require_id(payload, "id"),
        email=email,
        first_name=first,
        last_name=last,
        display_name=_display_name(first, last, company, email),
        username=text(payload.get("username")),
        role=text(payload.get("role")),
        phone_raw=phone_raw,
        phone=normalize_phone(phone_raw),
        country=_country(billing, field_object(payload, "shipping")),
        company=company,
        is_paying_customer=payload.get("is_paying_customer") is True,
        created_at=field_date(payload, "date_created_gmt"),
        modified_at=field_date(payload, "date_modified_gmt"),
    )


def map_deleted(payload) -> str:
    """The external id from a *.deleted body ({"id": N}; N may arrive as a numeric string)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("(body)", "a deleted event must be a JSON object")
    return str(require_id(payload, "id"))


def dedupe_key(store_slug: str, resource: str, resource_id, modified_gmt, raw_body: bytes) -> str:
    """Stable idempotency key for one inbound event (sha256 hex, 64 chars).

    Not X-WC-Webhook-Delivery-ID: WooCommerce derives it from webhook id + time() in whole seconds,
    so two different deliveries in one second share it. The body hash tells apart two changes
    within the same date_modified second; equal bodies for one resource version are one event.
    `modified_gmt` is the raw *_gmt string or a datetime (both give the same key); None for
    bodies without one (*.deleted).
    """
    if isinstance(modified_gmt, datetime):
        modified_gmt = as_utc(modified_gmt).strftime("%Y-%m-%dT%H:%M:%S")
    parts = [str(store_slug), str(resource), str(resource_id), modified_gmt or "",
             hashlib.sha256(bytes(raw_body)).hexdigest()]
    # The unit separator cannot occur in slugs, ids or dates, so distinct tuples never collide.
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def is_newer(incoming_modified, stored_modified) -> bool:
    """Out-of-order rule: apply an event only if strictly newer than what is stored.

    Equal is not newer (a replay or a second hook for the same save). Nothing stored: anything
    applies. An incoming event without a date cannot prove it is newer, so it does not overwrite.
    Accepts datetimes (naive ones are UTC) or *_gmt strings.
    """
    incoming, stored = as_utc(incoming_modified), as_utc(stored_modified)
    if stored is None:
        return True
    if incoming is None:
        return False
    return incoming > stored


def _country(*blocks: Mapping) -> str:
    for block in blocks:
        code = text(block.get("country")).upper()
        if code:
            return code[:2]
    return ""


def _display_name(first: str, last: str, company: str, email: str) -> str:
    return " ".join(p for p in (first, last) if p) or company or email


def _customer_ref(payload: Mapping) -> CustomerRef:
    raw_id = payload.get("customer_id", 0)
    # 0 (or absent) is WooCommerce's guest checkout; a guest is known by billing email only.
    woo_id = None if raw_id in (0, "0", None, "") else require_id(payload, "customer_id")
    billing = field_object(payload, "billing")
    first, last = text(billing.get("first_name")), text(billing.get("last_name"))
    email, company = normalize_email(billing.get("email")), text(billing.get("company"))
    phone_raw = text(billing.get("phone"))
    return CustomerRef(
        woocommerce_id=woo_id,
        email=email,
        first_name=first,
        last_name=last,
        display_name=_display_name(first, last, company, email),
        phone_raw=phone_raw,
        phone=normalize_phone(phone_raw),
        country=_country(billing, field_object(payload, "shipping")),
        company=company,
    )


def customer_ref(data: "CustomerRef | CustomerData", store_slug: str) -> domain.CustomerRef:
    """How the domain names the customer of an order's billing block or of a customer resource."""
    return domain.CustomerRef(
        kind=SYSTEM, namespace=store_slug,
        account_id=str(data.woocommerce_id) if data.woocommerce_id else None, email=data.email,
        display_name=data.display_name, phone=data.phone, country=data.country,
    )


def order_observation(payload, *, store_slug, store_name, status_map, actor, event_ref="", note_stale=True,
                      received_at=None) -> OrderObservation:
    """What the order resource says, as the domain's observation; PayloadError names a bad field
    (including a value the console cannot hold: too long, a NUL, an amount or date out of range)."""
    data = map_order(payload, store_slug=store_slug, status_map=status_map)
    meaning = data.canonical_state or data.status.outcome
    try:
        return OrderObservation(
            system=SYSTEM, namespace=store_slug, external_id=data.external_id, number=data.number,
            customer=customer_ref(data.customer, store_slug), raw_status=data.raw_status, meaning=meaning,
            currency=data.currency, total=data.total, refunded_total=data.refunded_total,
            placed_at=data.placed_at, paid_at=data.paid_at, modified_at=data.modified_at, actor=actor,
            source_name=store_name, event_ref=event_ref, note_stale=note_stale, received_at=received_at,
        )
    except ObservationError as error:
        raise PayloadError(_FIELDS.get(error.field, error.field), error.message) from None


# The payload's name for each observation field, for the operator reading the error.
_FIELDS = {"external_id": "id", "raw_status": "status", "placed_at": "date_created_gmt",
           "paid_at": "date_paid_gmt", "modified_at": "date_modified_gmt"}
