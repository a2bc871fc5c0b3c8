"""What a system's raw order status means for the canonical order state. Pure: no Django.

Every system that reports orders (the shop, the ERP, the CRM) maps its raw statuses, per
namespace (a store, an ERP company), to a canonical state, to IGNORE ("not an order yet": a
checkout draft, a quotation) or to nothing: an unmapped status is kept as it came and never
guessed (DOMAIN.md: it opens `unmapped_status`; the order waits until a manager maps it).
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

# A mapping value meaning "not an order yet, drop the observation". A string (not object()) so a
# mapping row stored in the database can say it too.
IGNORE = "__ignore__"

# What a raw status means: one of these outcomes (with the state when CANONICAL).
CANONICAL, IGNORED, UNMAPPED = "canonical", "ignored", "unmapped"

# WooCommerce keeps "processing"/"completed" after a partial refund (integrations/woocommerce/mappers.py):
# a system reporting one of these beside a partially refunded order agrees with it.
_PARTIAL_REFUND_FROM = frozenset({PAID, FULFILLING, SHIPPED, DELIVERED, COMPLETED})
# A paid order moves through the warehouse (fulfilling, shipped, delivered) in the ERP; the shop keeps
# saying "processing" (paid) meanwhile, which is no disagreement. How long it may stay so is
# reconciliation's tolerance, not this rule's.
_WAREHOUSE_STEPS = frozenset({FULFILLING, SHIPPED, DELIVERED})


def agrees(reported, canonical) -> bool:
    """Whether a system reporting `reported` (a canonical state it maps to) agrees with the order's
    canonical state: the same, a paid order further along in the warehouse, or a partial refund."""
    return (reported == canonical
            or (reported == PAID and canonical in _WAREHOUSE_STEPS)
            or (canonical == PARTIALLY_REFUNDED and reported in _PARTIAL_REFUND_FROM))


# Spellings a system adds in front of its statuses that mean nothing: WordPress stores
# "wc-processing" where WooCommerce's REST API says "processing"; people type either in a mapping.
_PREFIXES = {"woocommerce": "wc-"}


@dataclass(frozen=True)
class StatusResult:
    outcome: str  # CANONICAL, IGNORED or UNMAPPED
    raw: str  # as received, for the source state and the unmapped_status exception
    key: str  # what was looked up: trimmed, lowercased, the system's prefix stripped
    state: str | None = None  # the canonical state when outcome is CANONICAL


def status_key(raw, system="woocommerce") -> str:
    """The lookup form of a raw status: trimmed and lowercased, without the system's own prefix."""
    key = ("" if raw is None else str(raw)).strip().lower()
    prefix = _PREFIXES.get(system)
    return key[len(prefix):] if prefix and key.startswith(prefix) else key


def map_status(raw, mapping: Mapping[str, str], system="woocommerce") -> StatusResult:
    """Look a raw status up in `mapping` (raw status → canonical state or IGNORE).

    Both the raw status and the mapping's keys are compared in their lookup form. A mapping value
    that is not a canonical state (a typo in a stored row) is UNMAPPED too: a bad target is not a
    licence to guess.
    """
    raw = "" if raw is None else str(raw)
    key = status_key(raw, system)
    # Mappings are keyed by the lookup form already, except rows a person typed with the prefix or
    # in capitals: only then is the whole mapping normalised (this runs for every order received).
    target = mapping[key] if key in mapping else {status_key(k, system): v for k, v in mapping.items()}.get(key)
    if target == IGNORE:
        return StatusResult(IGNORED, raw, key)
    if target in CANONICAL_STATES:
        return StatusResult(CANONICAL, raw, key, target)
    return StatusResult(UNMAPPED, raw, key)


def unmapped_subject(system, namespace, raw_status) -> str:
    """The subject of the one `unmapped_status` exception per system, namespace and status, however
    the status is spelled: the orders of that namespace reporting it wait on that exception."""
    key = status_key(raw_status, system)
    if system == "woocommerce":
        return f"store:{namespace}/status:{key}"
    return f"{system}:{namespace}/status:{key}"
