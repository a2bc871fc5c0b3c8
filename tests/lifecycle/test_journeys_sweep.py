"""The sweep: pending steps past due become missed, with an event and a missed_touchpoint in the
step's team's queue on the step's SLA; the beat's task follows the timeline first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.models import EventKind, ExceptionCase, JourneyStep, StepState, TimelineEvent
from lifecycle.services import sla
from lifecycle.tasks_journeys import sweep_journeys
from tests.lifecycle.journey_support import DAY, crm_activity, paid_customer, step, sweep

pytestmark = pytest.mark.django_db


def test_overdue_steps_are_missed_with_an_event_and_an_exception_for_the_steps_team():
    customer, order, paid_at = paid_customer(days_ago=3)
    now = timezone.now()

    assert sweep(now=now) == 3  # confirmation (not followed yet), welcome email, shipping notice

    welcome = step(customer, "welcome_email")
    assert welcome.state == StepState.MISSED and welcome.missed_at == now
    assert step(customer, "onboarding_check").state == StepState.PENDING
    exception = ExceptionCase.objects.get(kind="missed_touchpoint", subject_key=f"journey_step:{welcome.pk}")
    assert exception.queue.slug == "marketing" and exception.customer == customer and exception.order == order
    policy = sla.policy_for("missed_touchpoint")
    assert exception.due_at == sla.due_at(policy, exception.queue_id, exception.opened_at, minutes=welcome.sla_minutes)
    assert exception.summary == "Welcome & onboarding email missed: it was due on day 1 of the first 30 days"
    assert exception.evidence["step"] == "welcome_email" and exception.evidence["team"] == "Marketing"
    missed = TimelineEvent.objects.get(customer=customer, kind=EventKind.JOURNEY_STEP_MISSED, data__step_id=welcome.pk)
    assert missed.summary.endswith("(Marketing)")

    assert sweep() == 0  # a rerun finds nothing new


def test_a_step_is_not_missed_within_its_grace():
    customer, _, paid_at = paid_customer(days_ago=1)
    sweep(now=paid_at + DAY + timedelta(minutes=30))
    assert step(customer, "welcome_email").state == StepState.PENDING


def test_the_sweep_takes_every_overdue_step_batch_after_batch():
    customers = [paid_customer(days_ago=3)[0] for _ in range(3)]
    assert sweep_in_batches_of_two() == 9
    assert JourneyStep.objects.filter(journey__customer__in=customers, state=StepState.MISSED).count() == 9


def sweep_in_batches_of_two():
    from lifecycle.services.journeys.sweep import journeys_sweep
    from tests.lifecycle.journey_support import TASK

    return journeys_sweep(actor=TASK, batch=2)


def test_the_beat_task_follows_signals_before_it_sweeps():
    customer, _, paid_at = paid_customer(days_ago=3)
    crm_activity(customer, "email", paid_at + timedelta(hours=5))

    result = sweep_journeys.apply().get()

    assert result["missed"] == 1  # only the shipping notice: the payment and the email arrived in time
    assert step(customer, "order_confirmation").state == StepState.DONE
    assert step(customer, "welcome_email").state == StepState.DONE
    assert not ExceptionCase.objects.filter(subject_key=f"journey_step:{step(customer, 'welcome_email').pk}").exists()
