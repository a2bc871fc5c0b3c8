"""Signals complete or re-time steps as the timeline hears them: behaviour first, the calendar
second; a late signal resolves the missed step's exception; a second touchpoint is a duplicate; exits
end the journey; the last step done moves the customer to active."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import (
    EventKind,
    ExceptionCase,
    Handoff,
    JourneyStatus,
    JourneyStep,
    Stage,
    StagePolicy,
    StepState,
    TimelineEvent,
)
from lifecycle.services.journeys.marks import step_mark_done
from tests.factories import make_agent, make_order, team
from tests.lifecycle.journey_support import DAY, crm_activity, follow, journey_of, paid_customer, ship, step, sweep

pytestmark = pytest.mark.django_db


def test_the_payment_completes_the_order_confirmation_on_time():
    customer, _, paid_at = paid_customer(days_ago=3)
    follow()
    confirmation = step(customer, "order_confirmation")
    assert confirmation.state == StepState.DONE and confirmation.done_at == paid_at
    assert confirmation.done_by["said"] == "the order was paid (the shop)"


def test_calendar_due_rule_on_time_before_the_day_and_late_after_it():
    on_time, _, paid_a = paid_customer(days_ago=5)
    late, _, paid_b = paid_customer(days_ago=5)
    crm_activity(on_time, "email", paid_a + timedelta(hours=20))  # welcome email due day 1
    crm_activity(late, "email", paid_b + timedelta(days=1, hours=3))
    follow()

    assert step(on_time, "welcome_email").state == StepState.DONE
    assert step(late, "welcome_email").state == StepState.LATE
    assert step(late, "welcome_email").done_at == paid_b + timedelta(days=1, hours=3)


def test_delivery_re_times_the_check_in_to_a_day_after_delivery():
    customer, order, paid_at = paid_customer()
    check_in = step(customer, "delivery_check_in")
    assert check_in.due_at == paid_at + 5 * DAY  # the calendar's fallback until the order is delivered

    ship(order, "shipped")
    ship(order, "delivered")
    follow()

    check_in.refresh_from_db()
    delivered_at = TimelineEvent.objects.get(customer=customer, kind=EventKind.ORDER_STATE_CHANGED,
                                             data__to="delivered").occurred_at
    assert check_in.due_at == delivered_at + DAY and check_in.calendar_due_at == paid_at + 5 * DAY
    assert step(customer, "shipping_notice").state == StepState.DONE  # shipped, by the ERP


def test_a_delivery_after_the_check_in_was_missed_re_times_it_and_clears_its_exception():
    customer, order, paid_at = paid_customer(days_ago=6)
    sweep()
    assert step(customer, "delivery_check_in").state == StepState.MISSED
    ship(order, "shipped")
    ship(order, "delivered")  # today: the check-in is due tomorrow
    follow()

    check_in = step(customer, "delivery_check_in")
    assert check_in.state == StepState.PENDING and check_in.missed_at is None
    exception = ExceptionCase.objects.get(kind="missed_touchpoint", subject_key=f"journey_step:{check_in.pk}")
    assert exception.status == "resolved" and exception.resolution_reason.startswith("Re-timed: the order was delivered")


def test_another_orders_shipment_is_not_this_journeys_shipping_notice():
    customer, _, _ = paid_customer()
    other = make_order(customer, state="paid")
    ship(other, "shipped")
    follow()
    assert step(customer, "shipping_notice").state == StepState.PENDING


def test_a_late_signal_completes_a_missed_step_late_and_resolves_its_exception():
    customer, _, paid_at = paid_customer(days_ago=2.5)
    sweep()
    welcome = step(customer, "welcome_email")
    exception = ExceptionCase.objects.get(kind="missed_touchpoint", subject_key=f"journey_step:{welcome.pk}")
    assert welcome.state == StepState.MISSED and exception.status == "open"

    crm_activity(customer, "email", timezone.now())
    follow()

    welcome.refresh_from_db()
    exception.refresh_from_db()
    assert welcome.state == StepState.LATE and welcome.missed_at is not None
    assert exception.status == "resolved"
    assert exception.resolution_reason.startswith("Welcome & onboarding email done late: Email in the CRM")


def test_news_of_an_on_time_touchpoint_arriving_after_the_sweep_counts_it_on_time():
    customer, _, paid_at = paid_customer(days_ago=3)
    sweep()
    crm_activity(customer, "email", paid_at + timedelta(hours=10))  # the CRM's pull came late
    follow()
    welcome = step(customer, "welcome_email")
    assert welcome.state == StepState.DONE
    assert ExceptionCase.objects.get(subject_key=f"journey_step:{welcome.pk}").status == "resolved"


def test_a_second_email_near_the_welcome_is_a_duplicate_with_both_events_as_evidence():
    customer, _, paid_at = paid_customer(days_ago=5)
    crm_activity(customer, "email", paid_at + timedelta(hours=10))
    crm_activity(customer, "email", paid_at + timedelta(days=2))  # nearer the welcome than the review request
    follow()

    welcome = step(customer, "welcome_email")
    assert welcome.state == StepState.DONE and welcome.duplicated
    assert [e["kind"] for e in welcome.evidence] == ["crm_activity", "crm_activity"]
    assert step(customer, "review_request").state == StepState.PENDING
    assert TimelineEvent.objects.filter(customer=customer, kind=EventKind.JOURNEY_STEP_DONE,
                                        data__duplicated=True).count() == 1


def test_an_email_nearer_the_review_request_completes_it_early_not_twice_the_welcome():
    customer, _, paid_at = paid_customer(days_ago=13)
    crm_activity(customer, "email", paid_at + timedelta(hours=10))
    crm_activity(customer, "email", paid_at + timedelta(days=12))
    follow()
    assert not step(customer, "welcome_email").duplicated
    assert step(customer, "review_request").state == StepState.DONE


def test_a_touchpoint_sent_by_two_teams_is_flagged_duplicated(manager):
    customer, _, _ = paid_customer()
    marketing = make_agent(teams=["marketing"])
    success = make_agent(teams=["success", "marketing"])
    welcome = step(customer, "welcome_email")
    step_mark_done(step=welcome, actor=Actor.for_user(marketing.user), comment="Sent the welcome pack")
    step_mark_done(step=welcome, actor=Actor.for_user(success.user), comment="Welcome call done too")

    welcome.refresh_from_db()
    assert welcome.state == StepState.DONE and welcome.duplicated
    assert [e["by"] for e in welcome.evidence] == [marketing.user.username, success.user.username]


def test_reading_the_same_events_twice_changes_nothing():
    customer, _, paid_at = paid_customer(days_ago=2)
    crm_activity(customer, "email", paid_at + timedelta(hours=3))
    follow()
    from lifecycle.models import JourneyWatermark

    JourneyWatermark.objects.update(safe_id=0)  # as if the follower had to read everything again
    follow()
    welcome = step(customer, "welcome_email")
    assert not welcome.duplicated and len(welcome.evidence) == 1
    assert TimelineEvent.objects.filter(customer=customer, kind=EventKind.JOURNEY_STEP_DONE).count() == 2


def test_a_refund_ends_the_journey_skips_what_is_pending_and_clears_missed_exceptions():
    customer, order, _ = paid_customer(days_ago=3)
    sweep()
    ship(order, "refunded", source="shop")
    follow()

    journey = journey_of(customer)
    assert journey.status == JourneyStatus.EXITED and journey.end_reason == "the order was refunded"
    states = dict(journey.steps.values_list("key", "state"))
    assert states["value_review"] == StepState.SKIPPED and states["welcome_email"] == StepState.MISSED
    assert not ExceptionCase.objects.filter(kind="missed_touchpoint", customer=customer, status="open").exists()
    ended = TimelineEvent.objects.get(customer=customer, kind=EventKind.JOURNEY_ENDED)
    assert ended.summary.endswith("ended early: the order was refunded")


def test_the_last_step_done_completes_the_journey_and_makes_the_customer_active():
    policy = StagePolicy.objects.get(stage=Stage.ACTIVE)  # active customers belong to marketing here
    policy.team = team("marketing")
    policy.save()
    customer, order, paid_at = paid_customer(days_ago=29)
    for key, kind, day in [("welcome_email", "email", 0.5), ("delivery_check_in", "note", 4),
                           ("onboarding_check", "call", 6), ("review_request", "email", 13),
                           ("value_review", "meeting", 28)]:
        crm_activity(customer, kind, paid_at + timedelta(days=day))
    ship(order, "shipped")
    follow()

    journey = journey_of(customer)
    assert journey.status == JourneyStatus.COMPLETED
    states = dict(journey.steps.values_list("key", "state"))
    assert states.pop("shipping_notice") == StepState.LATE  # shipped today, due on day 2
    assert set(states.values()) == {StepState.DONE}
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE
    handoff = Handoff.objects.filter(customer=customer).latest("created_at")
    assert handoff.to_team.slug == "marketing"
    assert handoff.reason.startswith(f"Journey “{journey.playbook.name}” completed: 30-day value review done")
    assert "Meeting in the CRM" in handoff.reason
    moved = TimelineEvent.objects.get(customer=customer, kind=EventKind.STAGE_CHANGED, data__to="active")
    assert moved.actor_ref == "tests"


def test_a_completed_journey_leaves_a_customer_who_moved_on_where_it_is():
    customer, order, paid_at = paid_customer(days_ago=29)
    make_order(customer, state="paid")  # a second paid order inside 30 days: active already
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE
    JourneyStep.objects.filter(journey__customer=customer).exclude(key="value_review").update(state=StepState.DONE)
    crm_activity(customer, "call", paid_at + timedelta(days=28))
    follow()
    assert journey_of(customer).status == JourneyStatus.COMPLETED
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE
