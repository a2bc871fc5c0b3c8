"""Reconciliation (issue 13, items 7-8): what the shop and the ERP say about an order, compared under
the tolerance rules; outside tolerance the order's state_mismatch opens in its owner team's queue with
the evidence, and it resolves itself when the systems agree again, saying why."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionStatus, OrderSourceState, Ownership, TimelineEvent, ToleranceRule
from lifecycle.services import reconcile as engine
from lifecycle.services.observations import orders_observe
from lifecycle.services.queues import exception_close
from lifecycle.services.reconcile import mismatch_subject, reconcile
from lifecycle.values import CustomerRef, OrderObservation
from tests.factories import make_customer, make_order

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUN = Actor.task("reconcile_orders")
HOUR = timedelta(hours=1)
# An ERPNext-like mapping, as the ERP integration will register it ("Closed" reads as cancelled).
ERP_MEANINGS = {"Draft": "pending_payment", "On Hold": "on_hold", "To Deliver and Bill": "fulfilling",
                "To Deliver": "fulfilling", "To Bill": "delivered", "Completed": "completed",
                "Cancelled": "cancelled", "Closed": "cancelled"}
SHOP_STATES = {"pending": "pending_payment", "processing": "paid", "completed": "completed",
               "cancelled": "cancelled", "refunded": "refunded"}


@pytest.fixture(autouse=True)
def erp_meanings():
    registered = engine._meanings.get("erp"), engine._cached_meanings.get("erp")  # the integration's, put back after
    engine.status_meanings_register("erp", lambda: {"": ERP_MEANINGS})
    yield
    engine.status_meanings_unregister("erp")
    if registered[0] is not None:
        engine.status_meanings_register("erp", registered[0], cached=registered[1])


def shop_order(shop="processing", at=T0, total="49.90"):
    """A shop order whose last shop status is `shop`, said (and received) at `at`."""
    order = make_order(make_customer(), state=SHOP_STATES[shop], total=total, namespace="main", raw_status=shop,
                       observed_at=at)
    OrderSourceState.objects.filter(order=order).update(received_at=at)
    return order


def erp_says(order, raw, at=T0, total=None):
    OrderSourceState.objects.update_or_create(order=order, system="erp", defaults={
        "raw_status": raw, "observed_at": at, "received_at": at, "event_ref": "erp-import:1/7",
        "total": None if total is None else Decimal(total)})


def shop_says(order, raw, at):
    OrderSourceState.objects.filter(order=order, system="woocommerce").update(raw_status=raw, observed_at=at,
                                                                               received_at=at)


def mismatch(order):
    return ExceptionCase.objects.filter(kind="state_mismatch", subject_key=mismatch_subject(order.pk)).first()


def is_open(order):
    case = mismatch(order)
    return case is not None and case.is_open


# (shop status, shop said at, ERP status, ERP said at, ERP total, the moment compared, outside tolerance?)
BOUNDARIES = {
    "shop paid, ERP not released: inside 2 h": ("processing", T0, "Draft", T0, None, 2 * HOUR - timedelta(seconds=1),
                                                 False),
    "shop paid, ERP not released: at 2 h": ("processing", T0, "Draft", T0, None, 2 * HOUR, True),
    "shop paid, ERP released: long after": ("processing", T0, "To Deliver and Bill", T0, None, 30 * HOUR, False),
    "shop completed, ERP not delivered: inside 48 h": ("completed", T0, "To Deliver", T0, None,
                                                       48 * HOUR - timedelta(seconds=1), False),
    "shop completed, ERP not delivered: at 48 h": ("completed", T0, "To Deliver", T0, None, 48 * HOUR, True),
    "shop completed, ERP delivered": ("completed", T0, "To Bill", T0, None, 100 * HOUR, False),
    "ERP cancelled, shop processing: at once": ("processing", T0, "Cancelled", T0, None, timedelta(0), True),
    "ERP closed, shop processing: at once": ("processing", T0, "Closed", T0, None, timedelta(0), True),
    "ERP cancelled, shop cancelled": ("cancelled", T0, "Cancelled", T0, None, 100 * HOUR, False),
    "ERP delivered, shop not completed: inside 24 h": ("processing", T0 - 30 * HOUR, "To Bill", T0, None,
                                                       24 * HOUR - timedelta(seconds=1), False),
    "ERP delivered, shop not completed: at 24 h": ("processing", T0 - 30 * HOUR, "To Bill", T0, None, 24 * HOUR,
                                                   True),
    "ERP delivered, shop completed": ("completed", T0, "To Bill", T0, None, 100 * HOUR, False),
    "totals 0.01 apart": ("processing", T0, "To Deliver", T0, "49.89", timedelta(0), False),
    "totals 0.02 apart": ("processing", T0, "To Deliver", T0, "49.88", timedelta(0), True),
    "ERP total above by 0.01": ("processing", T0, "To Deliver", T0, "49.91", timedelta(0), False),
    "ERP total above by 0.02": ("processing", T0, "To Deliver", T0, "49.92", timedelta(0), True),
    "no ERP total": ("processing", T0, "To Deliver", T0, None, timedelta(0), False),
}


@pytest.mark.parametrize("case", list(BOUNDARIES), ids=list(BOUNDARIES))
def test_each_tolerance_rule_on_both_sides_of_its_boundary(case):
    shop, shop_at, erp, erp_at, erp_total, after, outside = BOUNDARIES[case]
    # given: what the shop and the ERP said
    order = shop_order(shop, shop_at)
    erp_says(order, erp, erp_at, erp_total)

    # when: the orders are compared at that moment (counted from the leading system's word)
    leading = erp_at if "ERP delivered" in case else shop_at
    run = reconcile(order_ids=[order.pk], now=leading + after, actor=RUN)

    # then: a mismatch is open exactly when they disagree past the rule's window
    assert is_open(order) is outside
    assert run.outside == int(outside) and run.opened == int(outside)


def test_the_mismatch_carries_each_systems_word_and_the_rule_and_goes_to_the_owner_team():
    # given: the shop said paid two hours ago; the ERP still has a draft
    order = shop_order("processing", T0)
    erp_says(order, "Draft", T0 + timedelta(minutes=5), "49.90")

    # when
    reconcile(order_ids=[order.pk], now=T0 + 3 * HOUR, actor=RUN)

    # then: one open mismatch, in the queue of the team that owns the customer, saying what each system said
    case = mismatch(order)
    assert case.is_open and case.order_id == order.pk and case.customer_id == order.customer_id
    assert case.queue_id == Ownership.objects.get(customer=order.customer).team_id
    rule = ToleranceRule.objects.get(sentence__startswith="The shop says paid")
    assert case.summary == f"Order #{order.number}: {rule.sentence}"
    shop, erp = case.evidence["systems"]["woocommerce"], case.evidence["systems"]["erp"]
    assert (shop["raw"], shop["canonical"], shop["observed_at"]) == ("processing", "paid", T0.isoformat())
    assert (erp["raw"], erp["canonical"], erp["observed_at"]) == ("Draft", "pending_payment",
                                                                  (T0 + timedelta(minutes=5)).isoformat())
    [broken] = case.evidence["rules"]
    assert (broken["id"], broken["sentence"], broken["window_minutes"]) == (rule.pk, rule.sentence, 120)
    assert broken["outside_since"] == (T0 + 2 * HOUR).isoformat()
    assert TimelineEvent.objects.filter(kind="exception_opened", order=order).count() == 1


def test_a_rerun_with_nothing_new_changes_nothing():
    order = shop_order("processing", T0)
    erp_says(order, "Cancelled", T0)
    reconcile(order_ids=[order.pk], now=T0 + HOUR, actor=RUN)

    run = reconcile(order_ids=[order.pk], now=T0 + 2 * HOUR, actor=RUN)

    assert (run.opened, run.updated, run.resolved) == (0, 0, 0)
    assert mismatch(order).occurrences == 1


def test_a_new_word_from_a_system_updates_the_open_mismatch():
    order = shop_order("processing", T0)
    erp_says(order, "Draft", T0)
    reconcile(order_ids=[order.pk], now=T0 + 3 * HOUR, actor=RUN)

    # when: the ERP still disagrees, in other words
    erp_says(order, "On Hold", T0 + 4 * HOUR)
    run = reconcile(order_ids=[order.pk], now=T0 + 5 * HOUR, actor=RUN)

    # then: the same exception, brought up to date
    assert (run.opened, run.updated) == (0, 1)
    case = mismatch(order)
    assert case.is_open and case.evidence["systems"]["erp"]["raw"] == "On Hold"
    assert ExceptionCase.objects.filter(kind="state_mismatch", order=order).count() == 1


def test_when_the_systems_agree_again_the_mismatch_resolves_itself_saying_why():
    # given: an open mismatch: the shop paid, the ERP never released it
    order = shop_order("processing", T0)
    erp_says(order, "Draft", T0)
    reconcile(order_ids=[order.pk], now=T0 + 3 * HOUR, actor=RUN)

    # when: the ERP releases it for delivery
    erp_says(order, "To Deliver and Bill", T0 + 4 * HOUR)
    run = reconcile(order_ids=[order.pk], now=T0 + 4 * HOUR, actor=RUN)

    # then: resolved, in the run's name, with each system's word
    assert run.resolved == 1
    case = mismatch(order)
    assert case.status == ExceptionStatus.RESOLVED
    assert case.resolution_reason == ("The ERP and the shop agree again: the ERP says “To Deliver and Bill” "
                                      "(fulfilling); the shop says “processing” (paid)")
    event = TimelineEvent.objects.get(kind="exception_resolved", order=order)
    assert (event.actor_kind, event.actor_ref) == ("task", "reconcile_orders")


def test_a_mismatch_stays_open_while_the_condition_holds_even_when_the_window_starts_again():
    order = shop_order("processing", T0)
    erp_says(order, "Draft", T0)
    reconcile(order_ids=[order.pk], now=T0 + 3 * HOUR, actor=RUN)

    # when: the shop says "processing" again (a note added), so its word is new, and the ERP still has a draft
    shop_says(order, "processing", T0 + 4 * HOUR)
    reconcile(order_ids=[order.pk], now=T0 + 4 * HOUR + timedelta(minutes=1), actor=RUN)

    # then: still open: they do not agree
    assert is_open(order)


def test_a_status_nobody_mapped_is_neither_compared_nor_taken_for_agreement():
    order = shop_order("processing", T0)
    erp_says(order, "Draft", T0)
    reconcile(order_ids=[order.pk], now=T0 + 3 * HOUR, actor=RUN)

    # when: the ERP says something nobody mapped
    erp_says(order, "Awaiting Customs", T0 + 4 * HOUR)
    run = reconcile(order_ids=[order.pk], now=T0 + 5 * HOUR, actor=RUN)

    # then: the mismatch stays (unmapped_status owns the unknown status), and no new one opens elsewhere
    assert is_open(order) and run.kept == [order.pk]
    other = shop_order("processing", T0)
    erp_says(other, "Awaiting Customs", T0)
    reconcile(order_ids=[other.pk], now=T0 + 5 * HOUR, actor=RUN)
    assert mismatch(other) is None


def test_a_dismissed_mismatch_stays_dismissed_until_a_system_speaks_again(manager):
    order = shop_order("processing", T0)
    erp_says(order, "Cancelled", T0)
    reconcile(order_ids=[order.pk], now=T0 + HOUR, actor=RUN)
    exception_close(exception=mismatch(order), reason="The ERP cancels late on purpose", dismiss=True,
                    actor=Actor.for_user(manager))

    reconcile(full=True, now=T0 + 2 * HOUR, actor=RUN)
    assert mismatch(order).status == ExceptionStatus.DISMISSED

    # when: the ERP speaks again, still disagreeing
    erp_says(order, "Closed", datetime.now(UTC) + HOUR)
    reconcile(order_ids=[order.pk], now=datetime.now(UTC) + 2 * HOUR, actor=RUN)
    assert is_open(order)


def _observed(order, raw_status, meaning, at):
    return OrderObservation(
        system="woocommerce", namespace="main", external_id=order.external_id, number=order.number,
        customer=CustomerRef(kind="woocommerce", namespace="main", email=order.customer.email),
        raw_status=raw_status, meaning=meaning, currency="EUR", total=Decimal("49.90"), refunded_total=Decimal("0"),
        placed_at=order.placed_at, paid_at=None, modified_at=at, actor=Actor.webhook("main/d-9"), received_at=at)


def test_a_mismatch_opened_by_a_refused_move_is_the_same_exception_and_only_its_resolver_closes_it():
    # given: the shop said completed, then on-hold, which the order's state graph refuses
    order = shop_order("completed", T0)
    orders_observe(observations=[_observed(order, "on-hold", "on_hold", T0 + HOUR)])
    refused = mismatch(order)
    assert refused.is_open and "wanted" in refused.evidence

    # when: the ERP disagrees past tolerance too (delivered, the shop not completed), then agrees
    erp_says(order, "To Bill", T0 + HOUR)
    run = reconcile(order_ids=[order.pk], now=T0 + 50 * HOUR, actor=RUN)
    assert run.updated == 1 and ExceptionCase.objects.filter(kind="state_mismatch", order=order).count() == 1
    case = mismatch(order)
    assert case.evidence["wanted"] == "on_hold" and case.evidence["systems"]["erp"]["raw"] == "To Bill"
    erp_says(order, "On Hold", T0 + 51 * HOUR)
    reconcile(order_ids=[order.pk], now=T0 + 52 * HOUR, actor=RUN)

    # then: still open: the shop's refused move is not the engine's to clear
    assert is_open(order)
