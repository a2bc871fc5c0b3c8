"""A store's waiting deliveries are processed together by the first task that runs, each ending with
the status it would have had alone."""

from unittest import mock

import pytest

from integrations.models import InboundEvent
from integrations.woocommerce import draining
from integrations.woocommerce.signatures import compute_signature, php_json_encode
from integrations.woocommerce.tasks import process_inbound_event
from lifecycle.models import ExceptionCase, ExceptionKind, Order, OrderSourceState, Ownership, TimelineEvent
from tests.integrations.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


@pytest.fixture
def receive(client, store):
    """Store a delivery as the receiver does, without running its task (the worker is down)."""

    def post(payload, topic="order.updated", delivery="d", body=None):
        raw = body if body is not None else php_json_encode(payload)
        response = client.post(
            "/webhooks/woocommerce/main/", data=raw, content_type="application/json",
            HTTP_X_WC_WEBHOOK_TOPIC=topic, HTTP_X_WC_WEBHOOK_DELIVERY_ID=delivery,
            HTTP_X_WC_WEBHOOK_SIGNATURE=compute_signature(raw, WEBHOOK_SECRET),
        )
        assert response.status_code == 200, response.content
        return InboundEvent.objects.get(pk=response.json()["event"])

    return post


def version(order, minute, status, **changes):
    return {**order, "status": status, "date_modified_gmt": f"2017-03-22T16:{minute:02d}:00", **changes}


def test_the_first_task_processes_every_waiting_delivery_each_with_its_own_status(receive, wc_order, support_agent):
    # given deliveries waiting for a worker: two orders in several versions, a repeated delivery,
    # a late older version, and a version whose total is not an amount
    other = {**wc_order, "id": 728, "number": "728"}
    events = [
        receive(version(wc_order, 30, "pending")),
        receive(version(other, 30, "on-hold")),
        receive(version(wc_order, 31, "processing")),
        receive(version(wc_order, 31, "processing")),  # WooCommerce sent it twice
        receive(version(other, 32, "processing")),
        receive(version(wc_order, 29, "pending")),  # older than what will be stored
        receive(version(other, 33, "completed", total="lots")),
    ]
    assert not Order.objects.exists()
    # when the first delivery's task runs
    assert process_inbound_event.apply(args=[events[0].pk]).get() == S.PROCESSED
    # then every waiting delivery was processed by it, each with the status it would have alone
    statuses = [InboundEvent.objects.get(pk=e.pk).status for e in events]
    assert statuses == [S.PROCESSED, S.PROCESSED, S.PROCESSED, S.DUPLICATE, S.PROCESSED, S.STALE, S.FAILED]
    # and each order is in its newest readable state, the late version noted, the bad one owned
    assert dict(Order.objects.values_list("external_id", "state")) == {"727": "paid", "728": "paid"}
    assert OrderSourceState.objects.get(order__external_id="727").observed_at.minute == 31
    assert TimelineEvent.objects.filter(kind="stale_event").count() == 1
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert failure.evidence["event_id"] == events[6].pk and "total" in failure.summary
    assert Ownership.objects.filter(agent__user=support_agent).count() == 1
    # and the tasks of the deliveries it took find them finished and change nothing
    before = TimelineEvent.objects.count()
    assert [process_inbound_event.apply(args=[e.pk]).get() for e in events[1:6]] == statuses[1:6]
    assert TimelineEvent.objects.count() == before


def test_another_topic_ends_the_batch_and_keeps_its_place(receive, wc_order):
    # given an order's creation, its deletion in the shop, then its restoration
    created = receive(version(wc_order, 30, "processing"))
    deleted = receive({"id": 727}, topic="order.deleted")
    restored = receive(version(wc_order, 35, "processing"), topic="order.restored")
    # when the tasks run in the order the deliveries arrived
    for event in (created, deleted, restored):
        process_inbound_event.apply(args=[event.pk])
    # then the order was created, trashed and restored, in that order
    changes = list(TimelineEvent.objects.filter(kind="order_state_changed").order_by("pk")
                   .values_list("data__to", flat=True))
    assert changes == ["deleted", "paid"]
    assert Order.objects.get().state == "paid"


def test_a_batch_that_fails_as_a_whole_leaves_the_delivery_to_be_processed_alone(receive, wc_order):
    # given two waiting deliveries and a batch path that breaks
    first, second = receive(version(wc_order, 30, "pending")), receive(version(wc_order, 31, "processing"))
    with mock.patch.object(draining.batch, "orders_apply_many", side_effect=RuntimeError("bug")):
        # when the first task runs
        status = process_inbound_event.apply(args=[first.pk]).get()
    # then nothing of the batch was kept, and the delivery was processed on its own
    assert status == S.PROCESSED
    assert InboundEvent.objects.get(pk=second.pk).status == S.RECEIVED
    assert Order.objects.get().state == "pending_payment"
