"""WooCommerce's order statuses and their default meanings (DOMAIN.md). Pure; re-exported by mappers.py.

What a status means, and how unknown ones are kept, is the domain's (lifecycle/statuses.py): the
same for every system. Here: WooCommerce's own vocabulary, and map_status with its spelling rules.
"""

from collections.abc import Mapping

from lifecycle.statuses import (  # noqa: F401 (re-exported for the mappers and their tests)
    CANONICAL,
    CANONICAL_STATES,
    CANCELLED,
    COMPLETED,
    DELETED,
    DELIVERED,
    FAILED,
    FULFILLING,
    IGNORE,
    IGNORED,
    ON_HOLD,
    PAID,
    PARTIALLY_REFUNDED,
    PENDING_PAYMENT,
    REFUNDED,
    SHIPPED,
    UNMAPPED,
    StatusResult,
)
from lifecycle.statuses import map_status as _map_status
from lifecycle.statuses import status_key as _status_key

SYSTEM = "woocommerce"

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


def map_status(raw: str, mapping: Mapping[str, str]) -> StatusResult:
    """A WooCommerce status in `mapping`: "wc-processing" (WordPress's spelling) and "processing"
    (REST's) map alike, whichever spelling the mapping's keys use."""
    return _map_status(raw, mapping, SYSTEM)


def status_key(raw) -> str:
    """The lookup form of a status: post statuses are sanitize_key()'d slugs, so lowercase."""
    return _status_key(raw, SYSTEM)
