"""WooCommerce order status → canonical order state. Pure; re-exported by mappers.py.

Unknown statuses come back UNMAPPED with the raw value kept, never guessed (DOMAIN.md: an
unmapped status opens `unmapped_status` and the order keeps its last known state).
"""

from collections.abc import Mapping
from dataclasses import dataclass

# Canonical order states as plain strings, so this module imports without Django; a test pins
# them to lifecycle.models.OrderState so the two cannot drift apart.
PENDING_PAYMENT, ON_HOLD, PAID, FULFILLING, SHIPPED, DELIVERED = (
    "pending_payment", "on_hold", "paid", "fulfilling", "shipped", "delivered")
COMPLETED, CANCELLED, REFUNDED, PARTIALLY_REFUNDED, FAILED, DELETED = (
    "completed", "cancelled", "refunded", "partially_refunded", "failed", "deleted")
CANONICAL_STATES = frozenset({PENDING_PAYMENT, ON_HOLD, PAID, FULFILLING, SHIPPED, DELIVERED, COMPLETED,
                              CANCELLED, REFUNDED, PARTIALLY_REFUNDED, FAILED, DELETED})

# A mapping value meaning "not an order yet, drop the event". A string (not object()) so a
# mapping row stored in the database can say it too.
IGNORE = "__ignore__"

DEFAULT_STATUS_MAP: Mapping[str, str] = {
    "pending": PENDING_PAYMENT,
    "on-hold": ON_HOLD,
    "processing": PAID,
    "completed": COMPLETED,
    "cancelled": CANCELLED,
    "refunded": REFUNDED,
    "failed": FAILED,
    "trash": DELETED,
    # The block checkout's cart-in-progress; WooCommerce deletes it after a day if unpaid.
    "checkout-draft": IGNORE,
}

CANONICAL, IGNORED, UNMAPPED = "canonical", "ignored", "unmapped"


@dataclass(frozen=True)
class StatusResult:
    outcome: str  # CANONICAL, IGNORED or UNMAPPED
    raw: str  # as received, for the source state and the unmapped_status exception
    key: str  # what was looked up: trimmed, lowercased, "wc-" stripped
    state: str | None = None  # the canonical state when outcome is CANONICAL


def map_status(raw: str, mapping: Mapping[str, str]) -> StatusResult:
    """Look a raw WooCommerce status up in `mapping` (raw status → canonical state or IGNORE).

    WordPress stores statuses as "wc-processing" while REST says "processing": both map alike,
    whichever spelling the mapping's keys use. A mapping value that is not a canonical state
    (a typo in a stored row) is UNMAPPED too: a bad target is not a licence to guess.
    """
    raw = "" if raw is None else str(raw)
    key = status_key(raw)
    # Mappings are keyed by the lookup form already, except rows a person typed as "wc-…" or in
    # capitals: only then is the whole mapping normalised (this runs for every order received).
    target = mapping[key] if key in mapping else {status_key(k): v for k, v in mapping.items()}.get(key)
    if target == IGNORE:
        return StatusResult(IGNORED, raw, key)
    if target in CANONICAL_STATES:
        return StatusResult(CANONICAL, raw, key, target)
    return StatusResult(UNMAPPED, raw, key)


def status_key(raw) -> str:
    """The lookup form of a status: post statuses are sanitize_key()'d slugs, so lowercase."""
    key = str(raw).strip().lower()
    return key[3:] if key.startswith("wc-") else key
