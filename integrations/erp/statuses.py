"""What the ERPs' raw statuses mean by default: the meanings DOMAIN.md gives ERPNext's and Odoo's
vocabularies, and the canonical state names for the generic profile. Pure: no Django.

A raw status is what profiles.py reads: ERPNext's "status|delivery_status|billing_status", Odoo's
"state|invoice_status|delivery", the generic column as written. Every combination of the ERPs' own
values has a default (a rule below, spelled out as a table so the status mapping, the unmapped check
and reconciliation read one dict); a value outside them (a custom status) is unmapped until a
manager maps it (status_mappings.py), like the shop's.
"""

from itertools import product

from integrations.erp.profiles import (
    ERPNEXT_BILLING_STATUS,
    ERPNEXT_DELIVERY_STATUS,
    ERPNEXT_STATUS,
    ODOO_DELIVERY,
    ODOO_INVOICE_STATUS,
    ODOO_STATE,
)
from lifecycle.statuses import (
    CANCELLED,
    CANONICAL_STATES,
    COMPLETED,
    DELETED,
    DELIVERED,
    FULFILLING,
    ON_HOLD,
    PARTIALLY_REFUNDED,
    PENDING_PAYMENT,
    status_key,
)

SYSTEM = "erp"


def erpnext_meaning(status: str, delivery_status: str, billing_status: str) -> str:
    """ERPNext's Sales Order (erpnext_sales_order_fields.md): a draft is not submitted yet (no payment
    asked); submitted, it is with the warehouse until delivered; "To Bill" is delivered, waiting for
    its invoice; "Closed" stops it: completed once fully delivered, else cancelled."""
    if status == "Draft":
        return PENDING_PAYMENT
    if status == "On Hold":
        return ON_HOLD
    if status == "Cancelled":
        return CANCELLED
    if status == "Completed":
        return COMPLETED
    if status == "Closed":
        return COMPLETED if delivery_status == "Fully Delivered" else CANCELLED
    if status == "To Bill":
        return DELIVERED
    return FULFILLING  # To Deliver and Bill, To Deliver: released to the warehouse, partly delivered or not


def odoo_meaning(state: str, invoice_status: str, delivery: str) -> str:
    """Odoo's sale.order: a quotation (sent or not) waits for the customer; a confirmed order (locked
    or not) is with the warehouse until its delivery is done, then delivered, and completed once
    invoiced; a cancelled one is cancelled."""
    if state in ("draft", "sent"):
        return PENDING_PAYMENT
    if state == "cancel":
        return CANCELLED
    if delivery in ("full", "done"):
        return COMPLETED if invoice_status in ("invoiced", "upselling") else DELIVERED
    return FULFILLING


def _table(meaning, *vocabularies) -> dict[str, str]:
    return {status_key("|".join(values), SYSTEM): meaning(*values) for values in product(*vocabularies)}


# The generic profile's statuses: the canonical names, as written or with spaces, and a few common spellings.
_GENERIC = {state: state for state in CANONICAL_STATES - {DELETED}}
_GENERIC |= {state.replace("_", " "): state for state in _GENERIC}
_GENERIC |= {"pending": PENDING_PAYMENT, "on-hold": ON_HOLD, "canceled": CANCELLED,
             "partially-refunded": PARTIALLY_REFUNDED}

DEFAULT_STATUS_MAPS = {
    "erpnext": _table(erpnext_meaning, ERPNEXT_STATUS, ERPNEXT_DELIVERY_STATUS, ERPNEXT_BILLING_STATUS),
    "odoo": _table(odoo_meaning, [v for v, _ in ODOO_STATE], ["", *(v for v, _ in ODOO_INVOICE_STATUS)],
                   ["", *(v for v, _ in ODOO_DELIVERY)]),
    "generic": _GENERIC,
}
