"""Deals as the CRM's word on orders, through the real adapter and the sandbox: a deal names its order
by the console's key (or its name), its stage becomes the order's CRM source state through the
domain's observations, and reconciliation opens state_mismatch once it disagrees past 24 hours."""

from datetime import timedelta

import pytest

from integrations.crm import deals
from integrations.crm.base import DealChange
from integrations.crm.models import CrmDeal, CrmDealStageMapping
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, OrderSourceState
from lifecycle.services import reconcile as engine
from tests.integrations.crm.inbound_support import (  # noqa: F401 (fixtures)
    START,
    adapter,
    agents,
    clock,
    connection,
    pull,
    sandbox,
)
from tests.integrations.erp.test_importing import shop_reports

pytestmark = pytest.mark.django_db
SHOP_SAID_PAID = START - timedelta(hours=1)
RUN = Actor.task("reconcile_orders")


@pytest.fixture(autouse=True)
def crm_meanings():
    # The engine's own tests register a mapping of their own for "crm" and take it away after.
    engine.status_meanings_register("crm", deals.status_meanings, cached=deals.status_meanings_cached)


@pytest.fixture
def order(store):
    """The shop's order #1042, paid ("processing") an hour before the sandbox's records."""
    return shop_reports(store, 1042, modified=SHOP_SAID_PAID.strftime("%Y-%m-%dT%H:%M:%S"))


def crm_source(order):
    return OrderSourceState.objects.filter(order=order, system="crm").first()


def mismatch(order):
    return ExceptionCase.objects.filter(kind="state_mismatch", order=order, status__in=["open", "in_progress"]).first()


def test_the_order_key_names_the_order_and_reads_back():
    ref = deals.ref_from_key("woocommerce:main:1042")
    assert (ref.system, ref.namespace, ref.number) == ("woocommerce", "main", "1042")
    assert deals.ref_from_key("order-1") is None and deals.ref_from_key("") is None
    assert deals.number_from_name("Order #1042 – Ann") == "1042" and deals.number_from_name("Renewal") is None


def test_a_deal_stage_is_the_orders_crm_source_state_and_reconciled_after_24_hours(connection, adapter, sandbox,
                                                                                   order):
    # given: the order's deal in HubSpot, keyed as the console keys it, still at the first stage
    adapter.upsert_deals([DealChange(deals.order_key(order), {"dealname": "Order #1042",
                                                              "dealstage": "appointmentscheduled"})])

    # when: the pull reads the deals
    report = pull(connection, adapter)

    # then: the order's CRM source state is the deal's stage; the paid order keeps its state
    assert report.deals_observed == 1
    source = crm_source(order)
    assert source.raw_status == "appointmentscheduled" and source.event_ref.startswith(f"crm:{connection.pk}/deal:")
    order.refresh_from_db()
    assert order.state == "paid" and mismatch(order) is None
    assert CrmDeal.objects.get(connection=connection).order_number == "1042"

    # when: reconciliation compares the shop and the CRM inside the day, then after it
    engine.reconcile(order_ids=[order.pk], now=SHOP_SAID_PAID + timedelta(hours=23), actor=RUN)
    assert mismatch(order) is None
    engine.reconcile(order_ids=[order.pk], now=SHOP_SAID_PAID + timedelta(hours=25), actor=RUN)

    # then: one state_mismatch with the CRM's raw word and what it means
    crm = mismatch(order).evidence["systems"]["crm"]
    assert (crm["raw"], crm["canonical"]) == ("appointmentscheduled", "pending_payment")
    assert "CRM's deal stage" in mismatch(order).summary

    # when: the deal is won in HubSpot and pulled, then the systems agree and the mismatch resolves
    sandbox.clock.advance(60)
    adapter.upsert_deals([DealChange(deals.order_key(order), {"dealstage": "closedwon"})])
    pull(connection, adapter)
    engine.reconcile(order_ids=[order.pk], now=SHOP_SAID_PAID + timedelta(hours=26), actor=RUN)
    assert crm_source(order).raw_status == "closedwon" and mismatch(order) is None


def test_a_deal_without_the_key_names_its_order_by_number(connection, adapter, sandbox, order):
    sandbox.store.create("deals", {"dealname": "Order #1042 (Ann)", "dealstage": "closedwon"})
    sandbox.store.create("deals", {"dealname": "Big renewal", "dealstage": "closedwon"})

    report = pull(connection, adapter)

    assert report.deals_observed == 1 and crm_source(order).raw_status == "closedwon"


def test_a_stage_nobody_mapped_waits_on_unmapped_status_until_a_manager_maps_it(connection, adapter, sandbox, order,
                                                                                 manager):
    # given: the account's own pipeline, whose stages have numeric ids
    sandbox.store.create("deals", {deals.KEY_PROPERTY: deals.order_key(order), "dealstage": "12345678"})

    # when: it is pulled
    pull(connection, adapter)

    # then: the raw stage is kept and one unmapped_status waits for a manager
    assert crm_source(order).raw_status == "12345678"
    unmapped = ExceptionCase.objects.get(kind="unmapped_status", status="open")
    assert unmapped.subject_key == f"crm:hubspot-{connection.pk}/status:12345678"

    # when: a manager maps it (with history), then the exception resolves
    deals.deal_stage_mapping_set(connection=connection, dealstage="12345678", canonical="paid",
                                 actor=Actor.for_user(manager))
    unmapped.refresh_from_db()
    assert unmapped.status == "resolved"
    mapping = CrmDealStageMapping.objects.get(connection=connection, dealstage="12345678")
    assert mapping.history.count() == 1 and deals.deal_stage_map(connection.pk)["12345678"] == "paid"


def test_the_default_pipeline_is_mapped_per_connection_with_history(connection, adapter):
    pull(connection, adapter)  # a pull installs what the connection lacks

    rows = dict(CrmDealStageMapping.objects.filter(connection=connection).values_list("dealstage", "canonical"))
    assert rows == deals.DEFAULT_DEAL_STAGES
    assert all(m.history.exists() for m in CrmDealStageMapping.objects.all())
