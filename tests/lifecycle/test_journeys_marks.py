"""Marking a step done by hand: the step's team's agents and managers, with a comment; refusals say
who can help."""

import pytest
from django.core.exceptions import PermissionDenied

from lifecycle.actors import Actor
from lifecycle.models import EventKind, Journey, JourneyStatus, StepState, TimelineEvent
from lifecycle.services.journeys.marks import StepMarkRefused, step_mark_done
from tests.factories import make_agent, team
from tests.lifecycle.journey_support import paid_customer, step, sweep

pytestmark = pytest.mark.django_db


def _as(user):
    return Actor.for_user(user)


def test_an_agent_of_the_steps_team_marks_it_done_with_a_comment():
    customer, _, _ = paid_customer()
    agent = make_agent(teams=["marketing"])

    done = step_mark_done(step=step(customer, "welcome_email"), actor=_as(agent.user), comment="Welcome pack sent")

    assert done.state == StepState.DONE and done.done_by["team_id"] == team("marketing").pk
    assert done.done_by["said"].endswith(": Welcome pack sent")
    touchpoint = TimelineEvent.objects.get(customer=customer, kind=EventKind.TOUCHPOINT)
    assert touchpoint.actor_user == agent.user and touchpoint.data["comment"] == "Welcome pack sent"
    assert done.evidence[0]["event"] == touchpoint.pk


def test_marking_a_missed_step_done_completes_it_late_and_resolves_its_exception():
    customer, _, _ = paid_customer(days_ago=3)
    sweep()
    agent = make_agent(teams=["marketing"])
    done = step_mark_done(step=step(customer, "welcome_email"), actor=_as(agent.user), comment="Called instead")
    assert done.state == StepState.LATE
    assert customer.exceptions.get(subject_key=f"journey_step:{done.pk}").status == "resolved"


def test_a_comment_is_required():
    customer, _, _ = paid_customer()
    agent = make_agent(teams=["marketing"])
    with pytest.raises(StepMarkRefused, match="needs a comment"):
        step_mark_done(step=step(customer, "welcome_email"), actor=_as(agent.user), comment="  ")
    assert step(customer, "welcome_email").state == StepState.PENDING


def test_an_agent_of_another_team_is_told_whom_to_ask(manager):
    marketing = team("marketing")
    marketing.manager = manager
    marketing.save()
    manager.first_name, manager.last_name = "Sofía", "Ibáñez"
    manager.save()
    customer, _, _ = paid_customer()
    outsider = make_agent(teams=["support"])

    with pytest.raises(PermissionDenied, match="Only Marketing's agents or a manager can mark “Welcome & onboarding "
                                               "email” done: ask Sofía Ibáñez \\(Marketing's manager\\)"):
        step_mark_done(step=step(customer, "welcome_email"), actor=_as(outsider.user), comment="done")


def test_a_manager_may_mark_any_teams_step(manager):
    customer, _, _ = paid_customer()
    done = step_mark_done(step=step(customer, "review_request"), actor=_as(manager), comment="Asked on the phone")
    assert done.state == StepState.DONE and done.done_by["team_id"] is None


def test_a_step_that_completes_on_its_own_is_not_marked_by_hand(manager):
    customer, _, _ = paid_customer()
    with pytest.raises(StepMarkRefused, match="completes on its own when the order was completed, delivered or "
                                              "shipped"):
        step_mark_done(step=step(customer, "shipping_notice"), actor=_as(manager), comment="It left")


def test_nothing_is_marked_in_a_journey_that_is_over(manager):
    customer, _, _ = paid_customer()
    Journey.objects.filter(customer=customer).update(status=JourneyStatus.EXITED)
    with pytest.raises(StepMarkRefused, match="journey is over"):
        step_mark_done(step=step(customer, "welcome_email"), actor=_as(manager), comment="late")
