"""A store's waiting deliveries are processed together by its drain, each ending with the status it
would have had alone; the receiver wakes the drain without a message per delivery."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from integrations.models import InboundEvent
from integrations.woocommerce import draining
from integrations.woocommerce.signatures import compute_signature, php_json_encode
from integrations.woocommerce.tasks import drain_store, drain_waiting_stores, process_inbound_event
from integrations.woocommerce.wakeups import Wakeups, wakeups
from lifecycle.models import ExceptionCase, ExceptionKind, Order, OrderSourceState, Ownership, TimelineEvent
from tests.conftest import need_service
from tests.integrations.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


def version(order, minute, status, **changes):
    return {**order, "status": status, "date_modified_gmt": f"2017-03-22T16:{minute:02d}:00", **changes}


def test_the_drain_processes_every_waiting_delivery_each_with_its_own_status(receive, store, wc_order,
                                                                             support_agent):
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
    # when the store's drain runs
    assert drain_store.apply(args=[store.pk]).get() == 7
    # then every waiting delivery was processed, in one batch, each with the status it would have alone
    statuses = [InboundEvent.objects.get(pk=e.pk).status for e in events]
    assert statuses == [S.PROCESSED, S.PROCESSED, S.PROCESSED, S.DUPLICATE, S.PROCESSED, S.STALE, S.FAILED]
    # and each order is in its newest readable state, the late version noted, the bad one owned
    assert dict(Order.objects.values_list("external_id", "state")) == {"727": "paid", "728": "paid"}
    assert OrderSourceState.objects.get(order__external_id="727").observed_at.minute == 31
    assert TimelineEvent.objects.filter(kind="stale_event").count() == 1
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert failure.evidence["event_id"] == events[6].pk and "total" in failure.summary
    assert Ownership.objects.filter(agent__user=support_agent).count() == 1
    # and a drain woken again finds nothing to do, and a replayed task changes nothing
    before = TimelineEvent.objects.count()
    assert drain_store.apply(args=[store.pk]).get() == 0
    assert [process_inbound_event.apply(args=[e.pk]).get() for e in events[1:6]] == statuses[1:6]
    assert TimelineEvent.objects.count() == before


def test_another_topic_ends_the_batch_and_keeps_its_place(receive, store, wc_order):
    # given an order's creation, its deletion in the shop, then its restoration
    events = [receive(version(wc_order, 30, "processing")), receive({"id": 727}, topic="order.deleted"),
              receive(version(wc_order, 35, "processing"), topic="order.restored")]
    # when the store's drain runs
    drain_store.apply(args=[store.pk])
    # then the order was created, trashed and restored, in that order
    changes = list(TimelineEvent.objects.filter(kind="order_state_changed").order_by("pk")
                   .values_list("data__to", flat=True))
    assert changes == ["deleted", "paid"]
    assert Order.objects.get().state == "paid"
    assert {InboundEvent.objects.get(pk=e.pk).status for e in events} == {S.PROCESSED}


def test_a_batch_that_fails_as_a_whole_goes_one_by_one_and_keeps_nothing_of_the_batch(receive, store, wc_order):
    # given two waiting deliveries and a batch path that breaks
    first, second = receive(version(wc_order, 30, "pending")), receive(version(wc_order, 31, "processing"))
    with mock.patch.object(draining, "_apply", side_effect=RuntimeError("bug")):
        # when the drain runs
        drain_store.apply(args=[store.pk])
    # then each delivery was processed alone, in order, and the order is in its newest state
    assert [InboundEvent.objects.get(pk=e.pk).status for e in (first, second)] == [S.PROCESSED, S.PROCESSED]
    assert Order.objects.get().state == "paid"


def test_a_delivery_failing_alone_is_left_to_its_retries_and_the_drain_goes_on(receive, store, wc_order):
    # given a customer deletion the processing chokes on, then an order
    customer = receive({"id": 9}, topic="customer.deleted")
    order = receive(version(wc_order, 30, "processing"))
    with mock.patch.object(draining, "inbound_event_process", side_effect=RuntimeError("db hiccup")), \
            mock.patch.object(process_inbound_event, "apply_async") as retry:
        drain_store.apply(args=[store.pk])
    # then the failed delivery waits for its task's retry, and the order behind it was processed
    failed = InboundEvent.objects.get(pk=customer.pk)
    assert failed.status == S.FAILED and "db hiccup" in failed.reason
    retry.assert_called_once_with(args=[customer.pk], countdown=2)
    assert InboundEvent.objects.get(pk=order.pk).status == S.PROCESSED


def test_the_receiver_wakes_the_drain_after_the_commit(client, store, wc_order, django_capture_on_commit_callbacks):
    raw = php_json_encode(version(wc_order, 30, "processing"))
    with mock.patch.object(drain_store, "apply_async") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            client.post("/webhooks/woocommerce/main/", data=raw, content_type="application/json",
                        HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
                        HTTP_X_WC_WEBHOOK_SIGNATURE=compute_signature(raw, WEBHOOK_SECRET))
        assert not send.called  # nothing is sent before the delivery is committed
        for callback in callbacks:
            callback()
    send.assert_called_once()
    assert send.call_args.kwargs["args"] == [store.pk]
    wakeups.started(store.pk)  # as the drain would: the next test's deliveries queue their own


def test_the_throttle_wakes_once_at_once_and_once_at_the_interval_end_per_key():
    sent, now = [], [100.0]
    throttle = Wakeups(lambda key, delay: sent.append((key, delay)), interval=1.0, clock=lambda: now[0])
    # a burst for key 1: one wake-up at once, one at the end of the second, no more
    assert [throttle.wake(1) for _ in range(3)] == [0.0, 1.0, None]
    now[0] = 100.4
    assert throttle.wake(1) is None and throttle.wake(2) == 0.0  # another key has its own
    # after the interval, the next one wakes at once again
    now[0] = 101.0
    assert throttle.wake(1) == 0.0
    assert sent == [(1, 0.0), (1, 1.0), (2, 0.0), (1, 0.0)]


@pytest.mark.broker
def test_a_burst_of_deliveries_queues_one_drain_per_store_until_that_drain_starts(store, settings):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        need_service("the drains' pending marks live in the broker's Redis (set CELERY_BROKER_URL=redis://...)")
    other = store.pk + 1
    wakeups.started(store.pk)  # no mark left by an earlier test
    try:
        with mock.patch.object(drain_store, "apply_async") as send:
            # a burst of deliveries for the store, whichever process received them: one drain queued
            assert [wakeups.wake(store.pk) for _ in range(3)] == [True, False, False]
            assert wakeups.wake(other) is True  # another store has its own
            # once that drain starts, the next delivery queues the next one
            wakeups.started(store.pk)
            assert wakeups.wake(store.pk) is True
        assert [c.kwargs["args"] for c in send.call_args_list] == [[store.pk], [other], [store.pk]]
    finally:
        wakeups.started(store.pk)
        wakeups.started(other)


def test_the_sweep_wakes_stores_whose_deliveries_wait_too_long(receive, store, wc_order):
    fresh = receive(version(wc_order, 30, "pending"))
    old = [receive(version(wc_order, 31, "processing")), receive(version(wc_order, 32, "completed"))]
    InboundEvent.objects.filter(pk__in=[e.pk for e in old]).update(received_at=timezone.now() - timedelta(minutes=5))
    with mock.patch.object(drain_store, "delay") as wake:
        assert drain_waiting_stores.apply().get() == 1
    wake.assert_called_once_with(store.pk)
    assert fresh.status == S.RECEIVED
