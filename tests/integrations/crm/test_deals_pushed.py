"""Orders reach the CRM as deals through the outbox, through the real adapter and the sandbox: an order
created or moved writes a deal message in its own transaction, newest wins per order, the deal is
upserted by the console's order key at the stage its state maps to (editable), linked to its
contact, and the deal's stage read back by a pull is recognised as the console's own write."""

import pytest

from integrations.crm import deals
from integrations.crm.deal_changes import plan_build
from integrations.crm.delivery import outbox_deliver
from integrations.crm.models import CrmDeal, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import Order, OrderSourceState
from lifecycle.services.orders import order_transition
from tests.factories import make_order
from tests.integrations.crm.inbound_support import (  # noqa: F401 (fixtures)
    SYSTEM,
    adapter,
    agents,
    clock,
    connection,
    deliver,
    owned_customer,
    pull,
    sandbox,
)
from tests.integrations.crm.outbox_support import TASK, Clock

pytestmark = pytest.mark.django_db
M = OutboundMessage.State
DEAL = OutboundMessage.Field.DEAL


def deal_messages(order):
    return list(OutboundMessage.objects.filter(order=order).order_by("pk"))


def move(order, state):
    order_transition(order=order, to_state=state, actor=SYSTEM)
    order.refresh_from_db()


@pytest.fixture
def ann(connection, agents):
    return owned_customer(agents[0][0], "ann@example.com")


def test_a_new_order_is_a_deal_linked_to_its_contact_at_the_stage_its_state_maps_to(connection, adapter, sandbox, ann):
    # given: Ann's paid order, written with its deal message in the order's transaction
    order = Order.objects.get(customer=ann)
    [message] = deal_messages(order)
    assert (message.field, message.value, message.state) == (DEAL, {"order": order.pk, "state": "paid"}, M.PENDING)

    # when: the outbox delivers
    report = deliver(connection, adapter)

    # then: HubSpot has the deal under the console's key, won (paid), in the default pipeline, with
    # the order's amount and currency, linked to Ann's contact; the console keeps what it sent
    deal = sandbox.deal(deals.order_key(order))
    assert report.dead == 0 and deal_messages(order)[0].state == M.DELIVERED
    assert (deal["dealname"], deal["dealstage"], deal["pipeline"]) == (f"Order #{order.number}", "closedwon", "default")
    assert (deal["amount"], deal["deal_currency_code"]) == ("49.90", "EUR")
    assert deal["contacts"] == [sandbox.contact("ann@example.com")["hs_object_id"]]
    row = CrmDeal.objects.get(connection=connection)
    assert (row.deal_id, row.order_number, row.dealstage) == (deal["hs_object_id"], order.number, "closedwon")
    assert row.pushed["dealstage"] == "closedwon"


def test_newest_wins_per_order_and_one_orders_change_never_supersedes_anothers(connection, adapter, sandbox, ann):
    first = Order.objects.get(customer=ann)
    second = make_order(ann, state="pending_payment")
    move(first, "completed")
    move(first, "refunded")

    report = deliver(connection, adapter)

    assert [m.state for m in deal_messages(first)] == [M.SUPERSEDED, M.SUPERSEDED, M.DELIVERED]
    assert [m.state for m in deal_messages(second)] == [M.DELIVERED]
    assert sandbox.deal(deals.order_key(first))["dealstage"] == "closedlost"  # refunded: a lost sale
    assert sandbox.deal(deals.order_key(second))["dealstage"] == "appointmentscheduled"
    upserts = sandbox.requests_to("/objects/deals/batch/upsert")
    assert report.dead == 0 and len(upserts) == 1 and len(upserts[0]["body"]["inputs"]) == 2


def test_the_pulled_stage_the_console_sent_is_its_echo_and_a_persons_move_is_the_crms_word(
        connection, adapter, sandbox, ann):
    # given: Ann's order pushed as a won deal
    order = Order.objects.get(customer=ann)
    deliver(connection, adapter)

    # when: the pull reads the deal back
    report = pull(connection, adapter)

    # then: it is the console's own write: no CRM source state, no observation
    assert report.deals_observed == 0 and report.echoes >= 1
    assert not OrderSourceState.objects.filter(order=order, system="crm").exists()

    # when: a salesperson marks the deal lost in HubSpot, and the pull reads it
    sandbox.clock.advance(60)
    sandbox.edit("deals", CrmDeal.objects.get().deal_id, {"dealstage": "closedlost"})
    report = pull(connection, adapter)

    # then: that is the CRM's word on the order
    assert report.deals_observed == 1
    assert OrderSourceState.objects.get(order=order, system="crm").raw_status == "closedlost"


def test_a_deal_already_at_a_stage_meaning_the_orders_state_keeps_it(connection, adapter, sandbox, ann):
    # given: an unpaid order pushed at the first open stage, which a salesperson moved on
    order = make_order(ann, state="pending_payment")
    deliver(connection, adapter)
    sandbox.clock.advance(60)
    sandbox.edit("deals", CrmDeal.objects.get(order_number=order.number).deal_id, {"dealstage": "contractsent"})
    pull(connection, adapter)

    # when: the order goes on hold (still an unpaid sale to HubSpot's pipeline)
    move(order, "on_hold")
    deliver(connection, adapter)

    # then: the salesperson's stage stays; the amount is sent again
    inputs = sandbox.requests_to("/objects/deals/batch/upsert")[-1]["body"]["inputs"]
    assert "dealstage" not in inputs[0]["properties"] and inputs[0]["properties"]["amount"] == "49.90"
    assert sandbox.deal(deals.order_key(order))["dealstage"] == "contractsent"


def test_the_stage_an_order_is_pushed_at_follows_the_editable_mapping(connection, adapter, sandbox, ann, manager):
    # given: a manager maps "presentation scheduled" to on hold (an order waiting for its bank transfer)
    deals.deal_stage_mapping_set(connection=connection, dealstage="presentationscheduled", canonical="on_hold",
                                 actor=Actor.for_user(manager))
    order = make_order(ann, state="pending_payment")
    move(order, "on_hold")

    deliver(connection, adapter)

    assert sandbox.deal(deals.order_key(order))["dealstage"] == "presentationscheduled"


def test_a_state_no_stage_means_is_set_aside_with_a_sentence_a_person_can_act_on(connection):
    message = OutboundMessage(field=DEAL, value={"order": 7, "state": "paid"}, order_id=7)
    order = Order(pk=7, number="1007", system="woocommerce", namespace="main", total="10.00", currency="EUR")
    plan = plan_build([message], orders={7: order}, push={"pending_payment": "appointmentscheduled"},
                      meaning=lambda stage: None, current={})
    [(skipped, cause, why)] = plan.skipped
    assert skipped is message and cause == "unmapped" and plan.changes == []
    assert why == "No HubSpot deal stage is mapped to the order state Paid: map one in the CRM deal stage mappings."


def test_a_hundred_and_fifty_orders_go_as_two_batches(connection, adapter, sandbox, ann):
    for _ in range(149):
        make_order(ann, state="pending_payment")

    report = deliver(connection, adapter)

    sizes = [len(r["body"]["inputs"]) for r in sandbox.requests_to("/objects/deals/batch/upsert")]
    assert sizes == [100, 50] and report.dead == 0 and len(sandbox.store.objects["deals"]) == 150


def test_after_an_outage_a_deal_waits_for_its_contact_and_is_linked_to_it(connection, adapter, sandbox, agents):
    # given: a new customer's contact and deal, written while HubSpot answers 503
    clock = Clock()
    sandbox.outage(3600, mode="503")
    ann = owned_customer(agents[0][0], "ann@example.com")
    order = Order.objects.get(customer=ann)
    first = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)
    assert first.delivered == 0 and first.retrying  # the contact waits for its retry, the deal was not tried
    sandbox.end_outage()

    # when: a delivery runs before the contact's retry is due (a wake-up, another change)
    early = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)

    # then: the deal is not sent ahead of its contact, and nothing is dead
    assert early.parked == 1 and early.dead == 0 and sandbox.deal(deals.order_key(order)) is None
    [waiting] = deal_messages(order)
    assert (waiting.state, waiting.error_kind, waiting.attempts) == (M.PENDING, "contact_first", 0)

    # when: the contact's retry comes due
    clock.shift(minutes=1)
    late = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)

    # then: the contact goes, then the deal, linked to it
    assert late.dead == 0 and deal_messages(order)[0].state == M.DELIVERED
    assert sandbox.deal(deals.order_key(order))["contacts"] == [sandbox.contact("ann@example.com")["hs_object_id"]]


def test_a_deal_whose_contact_hubspot_refused_is_tried_again_not_dropped(connection, adapter, sandbox, agents):
    # given: a customer whose email HubSpot refuses (its contact is a dead letter), with an order
    ann = owned_customer(agents[0][0], "ann@localhost")

    # when: the outbox delivers
    report = deliver(connection, adapter)

    # then: the deal is in HubSpot but could not be linked: it waits its backoff, counted, not dead
    [message] = deal_messages(Order.objects.get(customer=ann))
    assert report.dead == 3  # the contact's name, owner and stage
    assert (message.state, message.attempts) == (M.PENDING, 1) and "no contact has the email" in message.last_error
