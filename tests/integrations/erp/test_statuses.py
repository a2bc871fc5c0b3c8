"""The ERPs' default status meanings: every combination of ERPNext's and Odoo's own values is mapped."""

import pytest

from integrations.erp.profiles import ERPNEXT, ODOO
from integrations.erp.statuses import DEFAULT_STATUS_MAPS
from lifecycle.statuses import CANONICAL, UNMAPPED, map_status


def meaning(profile, values):
    result = map_status(profile.status(values), DEFAULT_STATUS_MAPS[profile.key], "erp")
    return result.state if result.outcome == CANONICAL else result.outcome


@pytest.mark.parametrize("status, delivery, billing, state", [
    ("Draft", "Not Delivered", "Not Billed", "pending_payment"),
    ("On Hold", "Not Delivered", "Not Billed", "on_hold"),
    ("To Deliver and Bill", "Not Delivered", "Not Billed", "fulfilling"),
    ("To Deliver and Bill", "Partly Delivered", "Partly Billed", "fulfilling"),
    ("To Deliver", "Not Delivered", "Fully Billed", "fulfilling"),
    ("To Bill", "Fully Delivered", "Not Billed", "delivered"),
    ("Completed", "Fully Delivered", "Fully Billed", "completed"),
    ("Cancelled", "Not Delivered", "Not Billed", "cancelled"),
    ("Closed", "Fully Delivered", "Fully Billed", "completed"),
    ("Closed", "Closed", "Closed", "cancelled"),
    ("Shipped", "Not Delivered", "Not Billed", UNMAPPED),  # a custom status: a manager maps it
])
def test_erpnext_statuses(status, delivery, billing, state):
    assert meaning(ERPNEXT, {"status": status, "delivery_status": delivery, "billing_status": billing}) == state


@pytest.mark.parametrize("state_, invoice, delivery, state", [
    ("Quotation", "Nothing to Invoice", "", "pending_payment"),
    ("sent", "no", "", "pending_payment"),
    ("Sales Order", "To Invoice", "", "fulfilling"),
    ("sale", "to invoice", "Partially Delivered", "fulfilling"),
    ("sale", "to invoice", "Fully Delivered", "delivered"),
    ("sale", "Fully Invoiced", "full", "completed"),
    ("Locked", "invoiced", "done", "completed"),
    ("Cancelled", "no", "", "cancelled"),
])
def test_odoo_statuses(state_, invoice, delivery, state):
    assert meaning(ODOO, {"status": state_, "invoice_status": invoice, "delivery_status": delivery}) == state


def test_every_combination_of_the_erps_own_values_has_a_default():
    assert len(DEFAULT_STATUS_MAPS["erpnext"]) == 8 * 5 * 4
    assert len(DEFAULT_STATUS_MAPS["odoo"]) == 5 * 5 * 11
    assert DEFAULT_STATUS_MAPS["generic"]["on hold"] == "on_hold"
