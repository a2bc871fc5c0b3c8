"""What the shop can send that is wrong or awkward, and what the console does with it: two versions in
one second, a clock in the future, values the database cannot hold, one bad delivery among good ones,
two drains of one store at once. Each starts from WooCommerce's published order 727."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from integrations.models import InboundEvent
from integrations.woocommerce import draining
from integrations.woocommerce.tasks import drain_store, process_inbound_event
from lifecycle.models import Customer, ExceptionCase, ExceptionKind, Order, OrderSourceState, TimelineEvent
from lifecycle.services import observations
from tests.concurrency import race

pytestmark = pytest.mark.django_db
S = InboundEvent.Status
SECOND = "2017-03-22T16:30:00"


def version(order, status, modified=SECOND, **changes):
    return {**order, "status": status, "date_modified_gmt": modified, **changes}


def statuses_of(events):
    return [InboundEvent.objects.get(pk=e.pk).status for e in events]


# --- two versions in one second ------------------------------------------------------------------
@pytest.mark.parametrize("drained_together", [True, False])
def test_paid_then_completed_in_one_second_are_both_applied(receive, store, wc_order, drained_together):
    # given an order created pending, then paid and completed by one request (one date_modified second)
    receive(version(wc_order, "pending", "2017-03-22T16:29:00"))
    drain_store.apply(args=[store.pk])
    paid, completed = version(wc_order, "processing"), version(wc_order, "completed")
    if drained_together:
        events = [receive(paid), receive(completed)]
        drain_store.apply(args=[store.pk])
    else:
        events = [receive(paid)]
        drain_store.apply(args=[store.pk])
        events.append(receive(completed))
        drain_store.apply(args=[store.pk])
    # then both were applied, in order, and the order is completed, not left paid as "stale"
    assert statuses_of(events) == [S.PROCESSED, S.PROCESSED]
    order = Order.objects.get()
    assert order.state == "completed"
    assert OrderSourceState.objects.get(order=order).raw_status == "completed"
    # and the timeline says how the second was known to be the later one
    note = TimelineEvent.objects.get(kind="same_second")
    assert note.data["decided_by"] == "states" and "comes after paid" in note.summary


def test_the_earlier_of_two_same_second_versions_arriving_last_changes_nothing(receive, store, wc_order):
    # given the completed version arrives before the paid one of the same second
    receive(version(wc_order, "pending", "2017-03-22T16:29:00"))
    events = [receive(version(wc_order, "completed")), receive(version(wc_order, "processing"))]
    drain_store.apply(args=[store.pk])
    # then the order stays completed: its graph has no way back to paid, so "processing" came first
    assert statuses_of(events) == [S.PROCESSED, S.STALE]
    assert Order.objects.get().state == "completed"
    note = TimelineEvent.objects.get(kind="same_second")
    assert note.data["applied"] is False and "stays completed" in note.summary
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.STATE_MISMATCH).exists()


def test_a_refund_in_the_same_second_is_told_apart_by_its_total(receive, store, wc_order):
    # given a completed order, then a partial refund saved in the same second (status unchanged)
    receive(version(wc_order, "completed"))
    refunded = version(wc_order, "completed", refunds=[{"id": 1, "reason": "Damaged", "total": "-5.00"}])
    event = receive(refunded)
    drain_store.apply(args=[store.pk])
    # then the refund was applied: refunds only grow
    assert statuses_of([event]) == [S.PROCESSED]
    order = Order.objects.get()
    assert (order.state, str(order.refunded_total)) == ("partially_refunded", "5.00")


def test_the_same_version_twice_in_one_second_is_a_quiet_duplicate(receive, store, wc_order):
    first = receive(version(wc_order, "processing"))
    again = receive(version(wc_order, "processing", customer_note="edited note only"))
    drain_store.apply(args=[store.pk])
    assert statuses_of([first, again]) == [S.PROCESSED, S.STALE]
    assert not TimelineEvent.objects.filter(kind="same_second").exists()


# --- a clock in the future -----------------------------------------------------------------------
def test_a_delivery_dated_in_the_future_does_not_freeze_the_order(receive, store, wc_order):
    # given a shop whose clock ran years ahead for one save
    receive(version(wc_order, "pending", "2017-03-22T16:29:00"))
    future = receive(version(wc_order, "on-hold", "2099-01-01T00:00:00"))
    drain_store.apply(args=[store.pk])
    order = Order.objects.get()
    # then the version is taken as of its arrival, and the timeline says so
    observed = OrderSourceState.objects.get(order=order).observed_at
    assert observed <= timezone.now() and observed == InboundEvent.objects.get(pk=future.pk).received_at
    note = TimelineEvent.objects.get(kind="clock_ahead")
    assert "1 Jan 2099, 00:00" in note.summary and order.state == "on_hold"  # the console's one date format
    # and a genuine later update (the clock fixed) is applied, not refused as stale
    later = (timezone.now() + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    fixed = receive(version(wc_order, "processing", later))
    drain_store.apply(args=[store.pk])
    assert statuses_of([fixed]) == [S.PROCESSED]
    assert Order.objects.get().state == "paid"


# --- values the database cannot hold ---------------------------------------------------------------
@pytest.mark.parametrize("changes, field", [
    ({"status": "x" * 65}, "status"),
    ({"status": "processing\x00"}, "status"),
    ({"number": "72\x007"}, "number"),
    ({"total": "1000000000000.00"}, "total"),
    ({"date_created_gmt": "0001-01-01T00:00:00"}, "date_created_gmt"),
    ({"billing": {"first_name": "A" * 300, "email": "long@example.com"}}, "customer.display_name"),
    ({"billing": {"first_name": "Nul\x00", "email": "nul@example.com"}}, "customer.display_name"),
])
def test_a_value_the_database_cannot_hold_fails_that_delivery_at_once_and_its_neighbours_go_on(
        receive, store, wc_order, changes, field):
    # given a good order, a delivery carrying a value the console cannot store, and another good order
    good = receive(version(wc_order, "processing", "2017-03-22T16:29:00"))
    bad = receive({**version(wc_order, "completed", id=800, number="800"), **changes})
    other = receive(version(wc_order, "processing", id=801, number="801"))
    with mock.patch.object(process_inbound_event, "apply_async") as retries:
        drain_store.apply(args=[store.pk])
    # then the bad one failed at once, for a person, naming the field; nothing was retried
    assert statuses_of([good, bad, other]) == [S.PROCESSED, S.FAILED, S.PROCESSED]
    failed = InboundEvent.objects.get(pk=bad.pk)
    assert failed.attempts == 1 and field in failed.reason
    assert not retries.called
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert failure.evidence["event_id"] == bad.pk and field in failure.summary
    assert set(Order.objects.values_list("external_id", flat=True)) == {"727", "801"}


def test_one_delivery_breaking_the_batch_costs_one_rollback_and_never_its_neighbours(receive, store, wc_order):
    # given 20 waiting orders, one of which breaks whatever batch it is in (a bug its payload triggers)
    events = [receive(version(wc_order, "processing", id=900 + n, number=str(900 + n))) for n in range(20)]
    real_observe, batches = observations.orders_observe, []

    def observe(*, observations):
        batches.append(len(observations))
        if any(o.external_id == "913" for o in observations):
            raise RuntimeError("bug triggered by order 913")
        return real_observe(observations=observations)

    with mock.patch("integrations.woocommerce.intake.orders_observe", observe), \
            mock.patch.object(process_inbound_event, "apply_async") as retries:
        drain_store.apply(args=[store.pk])
    # then the whole batch was tried once, then each delivery alone: 19 orders in, 913 left to its retries
    assert batches == [20] + [1] * 20
    assert statuses_of(events).count(S.PROCESSED) == 19
    assert InboundEvent.objects.get(pk=events[13].pk).status == S.FAILED
    retries.assert_called_once_with(args=[events[13].pk], countdown=2)
    assert Order.objects.count() == 19


# --- two drains of one store at once ---------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_drains_of_one_store_at_once_never_collide(receive, store, wc_order, caplog):
    # given a busy shop: 60 orders of 20 new customers waiting, in several versions each
    events = []
    for n in range(60):
        email = f"buyer{n % 20}@example.com"
        payload = version(wc_order, "pending", "2017-03-22T16:29:00", id=1000 + n, number=str(1000 + n),
                          billing={**wc_order["billing"], "email": email})
        events.append(receive(payload))
        events.append(receive(version(payload, "processing", "2017-03-22T16:31:00")))
    # when two workers drain the store at the same instant, in small batches
    caplog.set_level(logging.INFO)
    with mock.patch.object(draining, "BATCH", 7):
        results, _ = race(2, lambda i: draining.store_drain(store_id=store.pk))
    # then neither failed, every delivery was processed once, with one order and one customer each
    assert not any(isinstance(r, Exception) for r in results), results
    assert set(statuses_of(events)) == {S.PROCESSED}
    assert Order.objects.count() == 60 and Customer.objects.count() == 20
    assert set(Order.objects.values_list("state", flat=True)) == {"paid"}
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.SYNC_FAILURE).exists()
    # and no customer's email reached the log
    assert "@example.com" not in caplog.text
