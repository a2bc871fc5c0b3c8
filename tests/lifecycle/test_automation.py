"""Stage moves on evidence (DOMAIN.md "enters when"): health below 40 → at_risk with its exception,
above 70 with repeat purchases → loyal, a refund or a critical exception past its SLA → at_risk, the
churn window → churned. Each a transition with its handoff to the new stage's team and a reason
naming the evidence, made by a task; backward moves never."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.defaults import STAGE_TEAMS
from lifecycle.models import (
    Band,
    Customer,
    EventKind,
    ExceptionCase,
    ExceptionKind,
    Handoff,
    HealthPolicy,
    Ownership,
    Severity,
    Stage,
    StagePolicy,
    TimelineEvent,
)
from lifecycle.services import timeline
from lifecycle.services.automation import at_risk_subject, churn_sweep
from lifecycle.services.exceptions import exception_raise, exceptions_resolve
from lifecycle.services.health import active_policy
from lifecycle.services.orders import order_transition
from lifecycle.services.sla import sla_sweep
from lifecycle.services.stages import customer_move_stage
from tests.factories import team
from tests.lifecycle.health_support import TASK, journey_steps, paid_customer, recompute

pytestmark = pytest.mark.django_db

PROBLEMS = [ExceptionKind.STATE_MISMATCH, ExceptionKind.PAYMENT_PROBLEM, ExceptionKind.STATE_MISMATCH]


def _problems(customer, n=3):
    for i, kind in enumerate(PROBLEMS[:n]):
        exception_raise(kind=kind, subject_key=f"test:{customer.pk}:{i}", summary="A problem", customer=customer,
                        actor=TASK)


def _last_stage_event(customer):
    return TimelineEvent.objects.filter(customer=customer, kind=EventKind.STAGE_CHANGED).order_by("-id").first()


def test_falling_below_40_moves_to_at_risk_with_a_handoff_a_reason_and_an_exception_for_the_owner_team():
    # A manager gave at-risk customers to support (by default success keeps them: no handoff then).
    policy = StagePolicy.objects.get(stage=Stage.AT_RISK)
    policy.team = team("support")
    policy.save()
    customer = paid_customer()  # onboarding, owned by success
    _problems(customer)  # 3 open problems: the exceptions' weight is lost

    score = recompute(customer)

    customer.refresh_from_db()
    assert (score.score, score.band) == (33, Band.INTERVENE)
    assert customer.stage == Stage.AT_RISK
    reason = "Health 33 (below 40): no repeat order yet, 3 open exceptions"  # the costliest first
    event = _last_stage_event(customer)
    assert (event.data["from"], event.data["to"], event.data["reason"]) == ("onboarding", "at_risk", reason)
    assert (event.actor_kind, event.actor_ref) == ("task", "tests")
    handoff = Handoff.objects.filter(customer=customer).latest("created_at")
    assert handoff.to_team.slug == "support" and handoff.reason == reason
    at_risk = ExceptionCase.objects.get(kind=ExceptionKind.AT_RISK, subject_key=at_risk_subject(customer.pk))
    assert at_risk.is_open and at_risk.queue_id == Ownership.objects.get(customer=customer).team_id
    assert at_risk.summary == reason
    band = TimelineEvent.objects.get(customer=customer, kind=EventKind.HEALTH_BAND_CHANGED)
    assert band.data == {"from": "", "to": "intervene", "score": 33, "policy_version": active_policy().version}


def test_a_band_change_is_a_timeline_event_and_rising_out_of_intervene_resolves_at_risk_saying_why():
    customer = paid_customer()
    _problems(customer)
    recompute(customer)
    exceptions_resolve(kind=ExceptionKind.STATE_MISMATCH, reasons={f"test:{customer.pk}:0": "fixed"}, actor=TASK)
    exceptions_resolve(kind=ExceptionKind.PAYMENT_PROBLEM, reasons={f"test:{customer.pk}:1": "paid"}, actor=TASK)

    score = recompute(customer)

    assert score.band == Band.OPTIMIZE
    events = TimelineEvent.objects.filter(customer=customer, kind=EventKind.HEALTH_BAND_CHANGED).order_by("id")
    assert [e.summary for e in events][-1] == f"Health intervene → optimize: score {score.score}"
    at_risk = ExceptionCase.objects.get(kind=ExceptionKind.AT_RISK, subject_key=at_risk_subject(customer.pk))
    assert not at_risk.is_open
    assert at_risk.resolution_reason == f"Health {score.score}: back at or above 40"
    customer.refresh_from_db()
    assert customer.stage == Stage.AT_RISK  # the owner decides when it is active again


def test_the_same_band_again_writes_nothing_new():
    customer = paid_customer()
    recompute(customer)
    recompute(customer)
    assert TimelineEvent.objects.filter(customer=customer, kind=EventKind.HEALTH_BAND_CHANGED).count() == 1
    assert customer.health_history.count() == 1


def _expanding_customer():
    customer = paid_customer(2)  # a second paid order inside 30 days: active (the order path)
    for order in customer.orders.all():
        order_transition(order=order, to_state="shipped", actor=TASK)
        order_transition(order=order, to_state="delivered", actor=TASK)
    journey_steps(customer, "done", "done")
    return customer


def test_above_70_with_repeat_purchases_moves_active_to_loyal_with_a_handoff_to_marketing():
    customer = _expanding_customer()
    assert Customer.objects.get(pk=customer.pk).stage == Stage.ACTIVE

    score = recompute(customer)

    customer.refresh_from_db()
    assert score.band == Band.EXPAND and customer.stage == Stage.LOYAL
    reason = f"Health {score.score} (above 70) with 1 repeat purchase"
    assert _last_stage_event(customer).data["reason"] == reason
    handoff = Handoff.objects.filter(customer=customer).latest("created_at")
    assert handoff.to_team.slug == STAGE_TEAMS["loyal"] and handoff.reason == reason


def test_a_manager_moving_loyal_back_is_not_undone_by_the_next_recompute(manager):
    from lifecycle.actors import Actor

    customer = _expanding_customer()
    recompute(customer)
    customer_move_stage(customer=customer, transition="back_to_active", actor=Actor.for_user(manager),
                        reason="Warranty replacements, not purchases")
    recompute(customer, days_later=1)
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE


def test_low_health_never_moves_a_customer_the_graph_does_not_allow():
    customer = paid_customer()
    Customer.objects.filter(pk=customer.pk).update(stage=Stage.CHURNED)  # arrange: won back later, maybe
    _problems(customer)
    score = recompute(customer)
    customer.refresh_from_db()
    assert score.band == Band.INTERVENE and customer.stage == Stage.CHURNED
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.AT_RISK).exists()


def test_the_churn_window_churns_customers_with_no_paid_order_and_no_activity():
    quiet, busy = paid_customer(), paid_customer()
    later = timezone.now() + timedelta(days=121)
    timeline.crm_activity_event(customer_id=busy.pk, activity_type="call", activity_id="1", actor=TASK,
                                occurred_at=later - timedelta(days=30)).save()

    churned = churn_sweep(actor=TASK, policy=active_policy(), now=later)

    quiet.refresh_from_db(), busy.refresh_from_db()
    assert churned == 1 and quiet.stage == Stage.CHURNED and busy.stage == Stage.ONBOARDING
    reason = _last_stage_event(quiet).data["reason"]
    assert reason.startswith("No paid order and no activity for 120 days: last paid order ")
    assert reason.endswith("last activity 121 days ago")
    assert Handoff.objects.filter(customer=quiet).latest("created_at").to_team.slug == STAGE_TEAMS["churned"]
    assert churn_sweep(actor=TASK, policy=active_policy(), now=later) == 0


def test_the_churn_window_is_the_policys():
    customer = paid_customer()
    policy = HealthPolicy.objects.get()
    policy.churn_days, policy.quiet_days = 30, 7
    policy.save()
    assert churn_sweep(actor=TASK, policy=policy, now=timezone.now() + timedelta(days=29)) == 0
    assert churn_sweep(actor=TASK, policy=policy, now=timezone.now() + timedelta(days=31)) == 1
    customer.refresh_from_db()
    assert customer.stage == Stage.CHURNED


def test_a_critical_exception_past_its_sla_moves_the_customer_to_at_risk():
    from lifecycle.services.health_follower import health_follow
    from lifecycle.services.health import watermark

    customer = paid_customer()
    watermark()  # the follower starts here
    exception, _ = exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key="test:critical", summary="Shop "
                                   "and ERP disagree", customer=customer, actor=TASK, severity=Severity.HIGH)
    later = exception.due_at + timedelta(hours=3)
    sla_sweep(later)  # breached: escalated to critical

    health_follow(actor=TASK, now=later)

    customer.refresh_from_db()
    assert customer.stage == Stage.AT_RISK
    assert _last_stage_event(customer).data["reason"] == (
        "Critical exception open past its SLA: State mismatch: Shop and ERP disagree (due 3\xa0hours ago)")
