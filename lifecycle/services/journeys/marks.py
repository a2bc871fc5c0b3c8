"""A person marks a journey step done: the step's team's agents and managers may, with a comment
saying what was done. The mark is a touchpoint event on the timeline, followed like any other signal
(a batch of one through apply.follow_events): on time, late, or a second touchpoint (duplicated)."""

from django.db import transaction
from django.utils import timezone

from lifecycle.db import rows
from lifecycle.models import JourneyStatus, JourneyStep, StepState, TimelineEvent
from lifecycle.selectors.visibility import agent_of
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.journeys import signals
from lifecycle.services.journeys.apply import follow_events, follow_lock
from lifecycle.services.journeys.events import touchpoint_event

# Managers hold it (migration 0022): they may mark any team's step; agents, their own teams' steps.
MARK_ANY = "lifecycle.change_journeystep"
MARKED = signals.Signal(signals.TOUCHPOINT, None)


class StepMarkRefused(ServiceError):
    pass


def who_can_mark(step):
    """Who may mark the step, in words, for a refusal: its team's agents and its manager by name."""
    manager = step.team.manager
    ask = f"{manager.get_full_name() or manager.get_username()} ({step.team}'s manager)" if manager else "a manager"
    return f"Only {step.team}'s agents or a manager can mark “{step.name}” done: ask {ask}."


def agent_team_ids(user):
    """The ids of the teams the user is an agent of (none without an agent profile)."""
    agent = agent_of(user)
    return set(agent.teams.values_list("pk", flat=True)) if agent is not None else set()


def mark_refusal(user, step, team_ids=None):
    """Why `user` may not mark `step` done now (StepMarkRefused or PermissionDenied, saying it in their
    words); None when they may. `team_ids`: agent_team_ids(user), when the caller asks for many steps."""
    if step.journey.status != JourneyStatus.RUNNING:
        return StepMarkRefused(f"This journey is over ({step.journey.get_status_display().lower()}): there is "
                               "nothing left to mark.")
    if step.state == StepState.SKIPPED:
        return StepMarkRefused(f"“{step.name}” was skipped when the journey ended.")
    if not signals.matches(step.signals, MARKED):
        return StepMarkRefused(f"“{step.name}” completes on its own when {signals.describe(step.signals)}; it is "
                               "not marked by hand.")
    if user.has_perm(MARK_ANY):
        return None
    if step.team_id not in (agent_team_ids(user) if team_ids is None else team_ids):
        return PermissionDenied(who_can_mark(step))
    return None


def step_mark_done(*, step, actor, comment):
    """Mark the step done by `actor` (a user) with `comment` (required); returns the step as it is
    then. Raises PermissionDenied or StepMarkRefused, nothing written."""
    comment = (comment or "").strip()
    if not actor.is_user:
        raise PermissionDenied("A step is marked done by a person; systems complete it by their signals.")
    if not comment:
        raise StepMarkRefused("Say what was done: marking a step done needs a comment.")
    with transaction.atomic():
        follow_lock([step.customer_id])  # the customer (and its journeys' orders) first, as followers lock
        locked = JourneyStep.objects.select_related("journey", "team__manager").get(pk=step.pk)
        team_ids = agent_team_ids(actor.user)
        refusal = mark_refusal(actor.user, locked, team_ids)
        if refusal is not None:
            raise refusal
        team_id = locked.team_id if locked.team_id in team_ids else None
        event = touchpoint_event(step=locked, team_id=team_id, comment=comment[:1000], actor=actor)
        rows.insert_many(TimelineEvent, [event])
        follow_events([event], actor=actor, now=timezone.now())
    return JourneyStep.objects.select_related("journey", "team").get(pk=step.pk)
