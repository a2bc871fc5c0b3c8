"""order.deleted through the webhook: the order is marked deleted and the shop's status for it
("trash") is stored as what the shop says, so the customer screen sees the two agree."""

import pytest

from console.views.customers import woocommerce_meanings
from integrations.models import InboundEvent
from integrations.woocommerce.processing import inbound_event_process
from lifecycle.models import ExceptionCase, ExceptionStatus, Order, OrderSourceState, TimelineEvent
from lifecycle.selectors.customers import customer_orders

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


def _bump(payload, modified, **changes):
    return {**payload, "date_modified_gmt": modified, **changes}


def shop_says(order):
    return OrderSourceState.objects.get(order=order, system="woocommerce")


def screen_disagreements(order):
    [row] = customer_orders(order.customer, interpret=woocommerce_meanings).rows
    return row.disagreements


def test_a_deleted_order_records_the_shops_trash_status_and_the_screen_agrees(deliver, store, wc_order):
    # given: the shop's order, paid
    deliver(wc_order, topic="order.created")
    order = Order.objects.get()
    assert shop_says(order).raw_status == "processing"

    # when: the shop trashes it
    response = deliver({"id": 727}, topic="order.deleted", delivery_id="d-2")

    # then: deleted, with the shop's "trash" as its status, later than the version before it
    assert response.status_code == 200
    assert InboundEvent.objects.get(topic="order.deleted").status == S.PROCESSED
    order.refresh_from_db()
    assert order.state == "deleted"
    source = shop_says(order)
    assert source.raw_status == "trash" and source.observed_at.isoformat() > "2017-03-22T19:28:08"
    # and: the stored status names the delivery that carried it
    assert source.event_ref == f"delivery:{InboundEvent.objects.get(topic='order.deleted').pk}"
    # and: the screen reads "trash" as deleted, as the order is: no disagreement to show
    assert screen_disagreements(order) == []
    event = TimelineEvent.objects.get(order=order, kind="order_state_changed")
    assert (event.data["from"], event.data["to"]) == ("paid", "deleted")


def test_a_replayed_deletion_or_late_earlier_version_changes_nothing(deliver, store, wc_order):
    # given: created, then deleted
    deliver(wc_order, topic="order.created")
    deliver({"id": 727}, topic="order.deleted", delivery_id="d-2")
    counts = (TimelineEvent.objects.count(), OrderSourceState.objects.count())

    # when: every delivery is replayed (the created one is older than the deletion)
    outcomes = [inbound_event_process(event_id=event.pk, replay=True)
                for event in InboundEvent.objects.order_by("pk")]

    # then: nothing changed; the order stays deleted and the shop's status trash
    assert outcomes == [S.STALE, S.IGNORED]
    assert (TimelineEvent.objects.count(), OrderSourceState.objects.count()) == counts
    order = Order.objects.get()
    assert order.state == "deleted" and shop_says(order).raw_status == "trash"


def test_restoring_from_the_trash_follows_the_shop_again(deliver, store, wc_order):
    # given: created and trashed within the same minute
    deliver(wc_order, topic="order.created")
    deliver({"id": 727}, topic="order.deleted", delivery_id="d-2")

    # when: the shop restores it (its date a few seconds after the version before the trash)
    deliver(_bump(wc_order, "2017-03-22T19:28:12"), topic="order.restored", delivery_id="d-3")

    # then: the order follows the shop back, and they agree
    order = Order.objects.get()
    assert order.state == "paid"
    assert shop_says(order).raw_status == "processing"
    assert screen_disagreements(order) == []


def test_a_deletion_resolves_the_orders_open_state_mismatch(deliver, store, wc_order):
    # given: a completed order the shop then put on hold (refused: a state_mismatch owns it)
    deliver(wc_order, topic="order.created")
    deliver(_bump(wc_order, "2017-03-23T10:00:00", status="completed"), delivery_id="d-2")
    deliver(_bump(wc_order, "2017-03-24T10:00:00", status="on-hold"), delivery_id="d-3")
    exception = ExceptionCase.objects.get(kind="state_mismatch")
    assert exception.is_open

    # when: the shop trashes it
    deliver({"id": 727}, topic="order.deleted", delivery_id="d-4")

    # then: the shop and the order agree (deleted): the mismatch is resolved by that delivery
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED
    assert exception.resolution_reason == "The shop and the console agree again: deleted in the shop"
    resolved = TimelineEvent.objects.get(kind="exception_resolved", order=exception.order)
    assert (resolved.actor_kind, resolved.actor_ref) == ("webhook", "main/d-4")
