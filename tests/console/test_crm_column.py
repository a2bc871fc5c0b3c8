"""The customer screen's CRM column (issue 14, item 5): each order's deal, as the CRM's word on it: the
deal's stage by HubSpot's label, what it means under the deal stage mapping, when it was seen and
which deal carried it; highlighted with the broken rule once reconciliation's open mismatch names
the CRM. Built through the CRM's deals service and the shop's webhook path, reconciliation run."""

import datetime
import html as html_lib
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from integrations.crm import deals
from integrations.crm.pulls import pull_actor
from lifecycle.actors import Actor
from lifecycle.services import reconcile as engine
from tests.console.crm_support import hub
from tests.console.test_erp_column import shop_paid, store  # noqa: F401 (the store fixture)

pytestmark = pytest.mark.django_db
TASK = Actor.task("reconcile_orders")


@pytest.fixture(autouse=True)
def crm_meanings():
    # The engine's own tests register a mapping of their own for "crm" and take it away after.
    engine.status_meanings_register("crm", deals.status_meanings, cached=deals.status_meanings_cached)


def deal_says(account, order, deal_id, stage, at=None):
    """The CRM's deal `deal_id` of `order` is at `stage`, as a pull reads it."""
    at = at or timezone.now()
    fact = deals.DealFact(deal_id=deal_id, modified_at=at, dealstage=stage, key=deals.order_key(order),
                          name=f"Order #{order.number}", amount=str(order.total), currency=order.currency,
                          created_at=at)
    return deals.deals_apply(connection=account.connection, facts=[fact], actor=pull_actor(account.connection))


def crm_cell(response, order):
    rows = next(s["data"] for s in response.context["sections"] if s["key"] == "orders").rows
    row = next(row for row in rows if row.order.pk == order.pk)
    return row, next(cell for cell in row.cells if cell is not None and cell.system == "crm")


def text(response):
    return " ".join(html_lib.unescape(strip_tags(response.content.decode())).split())


def test_the_crm_cell_says_the_deals_stage_what_it_means_when_and_which_deal(client_for, store, manager):
    # given the shop's paid order and its deal, won in HubSpot
    account = hub()
    order = shop_paid(store, 1042, datetime.timedelta(minutes=5))
    assert deal_says(account, order, "4242", "closedwon")["observed"] == 1

    for user in (manager, account.sam.user):
        response = client_for(user).get(reverse("console:customer", args=[order.customer_id]))

        # then its cell reads as HubSpot names the stage, with its meaning, its moment and its deal
        row, cell = crm_cell(response, order)
        assert (cell.raw_text, cell.meaning) == ("Closed Won", "Paid")
        assert str(cell.carried_by) == '<span title="HubSpot deal 4242">its HubSpot deal</span>'
        assert not cell.disagrees and not row.flagged
        assert "Closed Won means Paid seen just now from its HubSpot deal" in text(response)


def test_a_deal_stage_that_disagrees_or_nobody_mapped_says_so(client_for, store, manager):
    account = hub()
    behind = shop_paid(store, 1043, datetime.timedelta(minutes=5))
    custom = shop_paid(store, 1044, datetime.timedelta(minutes=5))
    deal_says(account, behind, "4243", "contractsent")  # before the close: not paid yet, to HubSpot
    deal_says(account, custom, "4244", "98765432")  # a stage of the account's own pipeline, not mapped

    response = client_for(manager).get(reverse("console:customer", args=[behind.customer_id]))

    row, cell = crm_cell(response, behind)
    assert (cell.raw_text, cell.meaning) == ("Contract Sent", "Pending payment") and cell.disagrees
    assert "CRM says Pending payment, canonical is Paid" in row.disagreements
    response = client_for(manager).get(reverse("console:customer", args=[custom.customer_id]))
    row, cell = crm_cell(response, custom)
    assert (cell.raw_text, cell.meaning) == ("98765432", "no mapping yet")


def test_a_deal_behind_the_paid_order_past_a_day_is_highlighted_with_its_rule(client_for, store, manager):
    # given the shop said paid 25 hours ago and the deal is still at its first stage
    account = hub()
    order = shop_paid(store, 1045, datetime.timedelta(hours=25))
    deal_says(account, order, "4245", "appointmentscheduled")
    assert engine.reconcile(full=True, actor=TASK).opened == 1

    response = client_for(manager).get(reverse("console:customer", args=[order.customer_id]))

    # then the row is owned by the mismatch and the CRM cell says which rule and for how long
    row, cell = crm_cell(response, order)
    assert row.flagged and cell.raw_text == "Appointment Scheduled" and cell.meaning == "Pending payment"
    [note] = cell.tolerance_notes
    assert re.fullmatch(r"The CRM's deal stage disagrees with the paid order 24 hours after the shop said it was "
                        r"paid: outside tolerance for 1h 0\dm, since .+\.", html_lib.unescape(strip_tags(note))), note
