"""A state_mismatch closes itself when the order's system agrees with the order again (DOMAIN.md,
invariant 4: resolvers close their own kind when the condition clears, recording why)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle import statuses
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionStatus, Order, TimelineEvent
from lifecycle.services.observations import orders_observe
from lifecycle.values import CustomerRef, OrderObservation, Outcome

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHOP = Actor.webhook("main/d-1")
# WooCommerce's default mapping (DOMAIN.md), enough for these tests.
MEANS = {"pending": statuses.PENDING_PAYMENT, "on-hold": statuses.ON_HOLD, "processing": statuses.PAID,
         "completed": statuses.COMPLETED, "refunded": statuses.REFUNDED, "shipped": statuses.UNMAPPED}


def said(n, raw_status, minutes, *, actor=SHOP):
    """What the shop says about its order n, `minutes` after T0."""
    return OrderObservation(
        system="woocommerce", namespace="main", external_id=str(n), number=str(1000 + n),
        customer=CustomerRef(kind="woocommerce", namespace="main", account_id=str(n), email=f"buyer{n}@example.com",
                             display_name=f"Buyer {n}"),
        raw_status=raw_status, meaning=MEANS[raw_status], currency="EUR", total=Decimal("49.90"),
        refunded_total=Decimal("49.90") if raw_status == "refunded" else Decimal(0),
        placed_at=T0, paid_at=None, modified_at=T0 + timedelta(minutes=minutes), actor=actor,
    )


def mismatch(n):
    return ExceptionCase.objects.get(kind="state_mismatch", order__external_id=str(n))


def refused(ns):
    """Orders `ns`, paid then completed, then a move the graph refuses (completed → on hold)."""
    orders_observe(observations=[said(n, "processing", 0) for n in ns])
    orders_observe(observations=[said(n, "completed", 5) for n in ns])
    orders_observe(observations=[said(n, "on-hold", 10) for n in ns])
    assert all(mismatch(n).is_open for n in ns)


@pytest.mark.parametrize("raw_status, state", [("completed", "completed"), ("refunded", "refunded")])
def test_the_shop_agreeing_again_resolves_the_mismatch_in_its_name(raw_status, state):
    # given: the shop said "on hold" for a completed order: refused, owned by a state_mismatch
    refused([1])

    # when: the shop reports a status the order agrees with (where it is, or a move the graph allows)
    agreed_by = Actor.webhook("main/d-4")
    [outcome] = orders_observe(observations=[said(1, raw_status, 20, actor=agreed_by)])

    # then: the order is where the shop says, and the mismatch is resolved, saying why and by whom
    assert outcome == Outcome.APPLIED
    assert Order.objects.get(external_id="1").state == state
    exception = mismatch(1)
    assert exception.status == ExceptionStatus.RESOLVED and exception.closed_at is not None
    label = {"completed": "completed", "refunded": "refunded"}[state]
    assert exception.resolution_reason == f"The shop and the console agree again: {label}"
    event = TimelineEvent.objects.get(kind="exception_resolved", order=exception.order)
    assert (event.actor_kind, event.actor_ref) == ("webhook", "main/d-4")
    assert exception.resolution_reason in event.summary


@pytest.mark.parametrize("raw_status", ["pending", "shipped"])
def test_a_shop_that_still_disagrees_leaves_the_mismatch_open(raw_status):
    # given
    refused([1])

    # when: the shop says another status the order cannot follow, or one nobody mapped
    orders_observe(observations=[said(1, raw_status, 20)])

    # then: the disagreement is still owned
    assert mismatch(1).is_open
    assert Order.objects.get(external_id="1").state == "completed"


def test_a_late_version_that_agrees_changes_nothing():
    # given
    refused([1])

    # when: a replay of the version before the refused one arrives
    [outcome] = orders_observe(observations=[said(1, "completed", 5)])

    # then: it is stale, and the shop's newest word (on hold) still disagrees
    assert outcome == Outcome.STALE
    assert mismatch(1).is_open


def test_orders_that_never_disagreed_resolve_nothing():
    # given: orders that never disagreed
    orders_observe(observations=[said(n, "processing", 0) for n in range(3)])

    # when / then: their next version resolves nothing and opens nothing
    orders_observe(observations=[said(n, "completed", 5) for n in range(3)])
    assert not ExceptionCase.objects.filter(kind="state_mismatch").exists()
    assert not TimelineEvent.objects.filter(kind="exception_resolved").exists()


def _agree_again(ns):
    refused(ns)
    with CaptureQueriesContext(connection) as queries:
        orders_observe(observations=[said(n, "completed", 20, actor=Actor.webhook(f"main/d-{n % 2}"))
                                     for n in ns])
    assert not ExceptionCase.objects.filter(kind="state_mismatch", status__in=["open", "in_progress"]).exists()
    return len(queries)


def test_a_batch_resolves_its_mismatches_with_a_bounded_number_of_queries():
    # given: a batch of 5 and a batch of 60 orders whose mismatches clear, from two deliveries' actors
    small = _agree_again(range(5))
    large = _agree_again(range(100, 160))

    # then: twelve times the orders, the same statements (one resolve per actor, not per order)
    assert large == small, (small, large)
    assert TimelineEvent.objects.filter(kind="exception_resolved").count() == 65


def test_a_mismatch_reconciliation_opened_stays_open_when_the_shop_repeats_itself():
    # given: a paid order, and reconciliation's mismatch on it (the ERP has not released it in time)
    from lifecycle.services.exceptions import exception_raise

    orders_observe(observations=[said(7, "processing", 0)])
    order = Order.objects.get(external_id="7")
    exception_raise(kind="state_mismatch", subject_key=f"order:{order.pk}", customer=order.customer, order=order,
                    summary="The shop says paid, and the ERP has not released it for delivery after 2 hours",
                    evidence={"source": "reconciliation", "systems": {}, "rules": []}, actor=SHOP)
    # when: the shop says "processing" again, a later version
    orders_observe(observations=[said(7, "processing", 30)])
    # then: the shop agreeing with the order is not the ERP agreeing: the mismatch stays open
    assert mismatch(7).is_open
