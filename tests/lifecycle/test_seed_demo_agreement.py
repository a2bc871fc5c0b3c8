"""seed_demo's orders travel the path the shop's do: each system's status is stored with the move it
caused, so the customer screen never shows a demo order disagreeing with the shop that moved it."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from console.views.customers import woocommerce_meanings
from lifecycle.management import demo_data as demo
from lifecycle.models import Customer, ExceptionCase, Order, OrderSourceState, OrderState, TimelineEvent
from lifecycle.selectors.customers import customer_orders

CUSTOMERS = 30  # every scenario once (demo_data.SCENARIOS) and then some
# The warehouse's states: the ERP reports them; the shop keeps saying "processing" meanwhile.
WAREHOUSE = {OrderState.FULFILLING, OrderState.SHIPPED, OrderState.DELIVERED}


@pytest.fixture
def seeded(db, settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("AFTERCARE_DEMO_PASSWORD", raising=False)
    call_command("seed_demo", customers=CUSTOMERS, stdout=io.StringIO())
    return timezone.now()  # when it finished: no system's status is dated after it


def _rows():
    for customer in Customer.objects.filter(orders__isnull=False).distinct():
        page = customer_orders(customer, interpret=woocommerce_meanings)
        assert page.older is None  # a demo customer's orders fit on one page
        yield from page.rows


def test_every_demo_order_agrees_with_the_shop_that_moved_it(seeded):
    # then: no exception owns a disagreement, because the demo has none
    assert not ExceptionCase.objects.filter(kind__in=["state_mismatch", "unmapped_status"]).exists()
    # and: no order reads as one either, the warehouse's included: the shop says processing (paid)
    # while the ERP ships, and that agrees (lifecycle.statuses.agrees)
    sources = {(s.order_id, s.system): s for s in OrderSourceState.objects.all()}
    rows = list(_rows())
    assert [(row.order.number, row.disagreements) for row in rows if row.disagreements] == []
    warehouse = [row.order for row in rows if row.order.state in WAREHOUSE]
    assert warehouse, "the demo has orders in the warehouse"
    for order in warehouse:
        shop, erp = sources[(order.pk, "woocommerce")], sources.get((order.pk, "erp"))
        assert shop.raw_status == "processing" and erp is not None and erp.observed_at > shop.observed_at


def test_each_system_says_what_it_last_reported_and_no_clock_is_ahead(seeded):
    # then: every order has the shop's status; the ERP's where the warehouse moved it
    orders = Order.objects.all()
    assert OrderSourceState.objects.filter(system="woocommerce").count() == orders.count()
    for state in OrderSourceState.objects.filter(system="erp").select_related("order"):
        # the ERP's status for the last warehouse step the order took
        assert state.raw_status in {demo.RAW[s][1] for s in WAREHOUSE}, state.raw_status
    assert not OrderSourceState.objects.filter(observed_at__gt=seeded).exists()
    # and: the versions came in order, none late, none from a clock ahead of ours
    assert not TimelineEvent.objects.filter(kind__in=["stale_event", "clock_ahead", "same_second"]).exists()
    # and: the shop's refunds are in the amounts
    for order in orders.filter(state=OrderState.REFUNDED):
        assert order.refunded_total == order.total
    for order in orders.filter(state=OrderState.PARTIALLY_REFUNDED):
        assert 0 < order.refunded_total < order.total
    # and: deleted orders say the shop's trash
    deleted = orders.filter(state=OrderState.DELETED)
    assert deleted.exists()
    assert all(sources.raw_status == "trash" for sources in OrderSourceState.objects.filter(order__in=deleted))
