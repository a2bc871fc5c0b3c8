"""Each health component's raw value and contribution, and missing data shown as missing (never as
healthy): scores computed through the nightly's own set-based path, on the real database."""

import pytest
from django.utils import timezone

from lifecycle.models import Band, ExceptionKind, HealthPolicy
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.orders import order_transition
from lifecycle.services.reconcile import status_meanings_register, status_meanings_unregister
from tests.factories import make_customer, make_order, make_source_state
from tests.lifecycle.health_support import TASK, journey_steps, paid_customer, recompute

pytestmark = pytest.mark.django_db


def test_a_new_paying_customer_is_scored_from_what_is_known_and_the_rest_is_missing():
    customer = paid_customer()  # the shop's order only: no CRM, no ERP, no journey

    score = recompute(customer)

    c = score.components
    assert c["repeat_orders"] == {**c["repeat_orders"], "value": 0, "contribution": 0.0, "missing": False}
    for name in ("on_time_delivery", "journey_on_time"):
        assert c[name]["missing"] is True and c[name]["value"] is None and c[name]["contribution"] is None
    # Present weights: repeat 25, exceptions 15, refunds 10, activity 10 = 60 → each its share of 100.
    assert c["open_exceptions"]["points"] == 25.0 and c["open_exceptions"]["contribution"] == 25.0
    assert c["refunds"]["contribution"] == pytest.approx(16.7)
    assert c["recent_activity"] == {**c["recent_activity"], "value": 0, "contribution": pytest.approx(16.7)}
    assert score.score == 58 and score.band == Band.OPTIMIZE
    assert score.policy_version == HealthPolicy.objects.get().version
    assert sum(v["points"] for v in c.values() if not v["missing"]) == pytest.approx(100, abs=0.2)


def test_repeat_paid_orders_earn_the_weight_two_repeats_in_full():
    one, two, three = paid_customer(1), paid_customer(2), paid_customer(3)
    scores = recompute(one, two, three)
    assert [s.components["repeat_orders"]["value"] for s in scores] == [0, 1, 2]
    assert [s.components["repeat_orders"]["quality"] for s in scores] == [0.0, 0.5, 1.0]


def test_on_time_delivery_counts_orders_delivered_within_the_window_of_payment():
    customer = make_customer()
    delivered = make_order(customer, state="paid", paid_at=None)
    late = make_order(customer, state="paid")
    order_transition(order=delivered, to_state="shipped", actor=TASK)
    order_transition(order=delivered, to_state="delivered", actor=TASK)

    # Ten days later: the delivered order was on time (same day), the other is past the 7-day window.
    score = recompute(customer, days_later=10)

    c = score.components["on_time_delivery"]
    assert (c["value"], c["judged"], c["within_days"], c["quality"]) == (1, 2, 7, 0.5)
    assert late.state == "paid"  # judged late though never delivered


def test_an_order_still_inside_its_window_is_not_judged_yet():
    customer = paid_customer()
    assert recompute(customer, days_later=3).components["on_time_delivery"]["missing"] is True


def test_another_systems_delivery_counts_as_the_order_reaching_delivered():
    customer = make_customer()
    order = make_order(customer, state="paid")
    status_meanings_register("erp", lambda: {"": {"Delivered": "delivered"}})
    try:
        make_source_state(order=order, system="erp", raw_status="Delivered", observed_at=timezone.now())
        score = recompute(customer, days_later=10)
    finally:
        status_meanings_unregister("erp")
    assert score.components["on_time_delivery"]["value"] == 1
    assert score.components["on_time_delivery"]["quality"] == 1.0


def test_journey_steps_count_those_done_on_time_of_those_that_came_due():
    customer = paid_customer()
    journey_steps(customer, "done", "done", "late", "missed", "pending", "skipped")
    c = recompute(customer).components["journey_on_time"]
    assert (c["value"], c["due"], c["late"], c["missed"], c["quality"]) == (2, 4, 1, 1, 0.5)


def test_open_exceptions_each_cost_a_third_and_at_risk_missed_steps_and_staffing_gaps_are_not_counted():
    customer = paid_customer()
    # at_risk is the score's own consequence; a missed touchpoint is counted by the journey component
    kinds = [ExceptionKind.STATE_MISMATCH, ExceptionKind.PAYMENT_PROBLEM, ExceptionKind.AT_RISK,
             ExceptionKind.MISSED_TOUCHPOINT]
    for n, kind in enumerate(kinds):
        exception_raise(kind=kind, subject_key=f"test:{n}", summary="A problem", customer=customer, actor=TASK)
    c = recompute(customer).components["open_exceptions"]
    assert (c["value"], c["quality"]) == (2, 0.333)
    assert c["contribution"] == pytest.approx(c["points"] / 3, abs=0.1)


def test_refunds_are_the_share_of_paid_orders_refunded_in_whole_or_part():
    customer = paid_customer(4)
    orders = list(customer.orders.order_by("pk"))
    order_transition(order=orders[0], to_state="refunded", actor=TASK)
    order_transition(order=orders[1], to_state="partially_refunded", actor=TASK)
    c = recompute(customer, automate=False).components["refunds"]
    assert (c["value"], c["paid"], c["quality"]) == (2, 4, 0.5)


def test_no_refund_possible_before_a_payment_is_missing_not_healthy():
    customer = make_customer()
    make_order(customer, state="pending_payment")
    score = recompute(customer)
    assert score.components["refunds"]["missing"] is True
    assert score.components["on_time_delivery"]["missing"] is True
    assert score.score is not None  # repeat orders, exceptions and activity are known


def test_recent_activity_counts_in_full_while_quiet_and_fades_to_nothing_at_the_churn_window():
    customer = paid_customer()
    fresh, fading, gone = (recompute(customer, days_later=d).components["recent_activity"] for d in (14, 67, 120))
    assert (fresh["value"], fresh["quality"]) == (14, 1.0)
    assert (fading["value"], fading["quality"]) == (67, 0.5)
    assert (gone["value"], gone["quality"]) == (120, 0.0)


def test_a_missing_components_weight_is_not_counted_so_the_others_share_the_points():
    with_journey, without = paid_customer(), paid_customer()
    journey_steps(with_journey, "done")
    a, b = recompute(with_journey, without)
    assert a.components["open_exceptions"]["points"] == pytest.approx(100 * 15 / 80, abs=0.1)
    assert b.components["open_exceptions"]["points"] == pytest.approx(100 * 15 / 60, abs=0.1)
    assert b.components["journey_on_time"] == {"value": None, "contribution": None, "missing": True,
                                               "weight": 20.0}


def test_weights_come_from_the_policy():
    policy = HealthPolicy.objects.get()
    policy.weights = {**policy.weights, "repeat_orders": 0}
    policy.save()
    score = recompute(paid_customer())
    assert score.components["repeat_orders"]["points"] == 0
    assert score.score == 100  # nothing wrong with what is left
