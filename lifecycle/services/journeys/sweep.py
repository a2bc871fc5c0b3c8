"""The sweep (beat, every minute, after the follower): pending steps past due (and its grace, see
timing.py) become missed, each with a journey_step_missed event and a missed_touchpoint exception in
the step's team's queue with the step's SLA. Set-based: one UPDATE per batch, one insert of events,
one batch raise of exceptions. A rerun finds nothing new: a missed step is no longer pending."""

from django.db import transaction
from django.utils import timezone

from lifecycle.db import journeys as journey_rows
from lifecycle.db import rows
from lifecycle.models import ExceptionKind, Journey, Team, TimelineEvent
from lifecycle.services.exceptions import Raise, exceptions_raise
from lifecycle.services.journeys.ending import subject_of
from lifecycle.services.journeys.events import journey_day, step_missed_event
from lifecycle.services.journeys.timing import missed_if_due_before

# Steps per transaction: their customers' exceptions and timelines are locked until it commits, at the
# sweeps' low priority (see follow.py's BATCH).
SWEEP_BATCH = 1_000


def journeys_sweep(*, actor, now=None, batch=SWEEP_BATCH):
    """Mark every overdue pending step missed and raise its exception; returns how many."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            missed = journey_rows.mark_missed(due_before=missed_if_due_before(now), missed_at=now, limit=batch)
            if missed:
                _record(missed, actor, now)
        total += len(missed)
        if len(missed) < batch:
            return total


def _record(missed, actor, now):
    teams = dict(Team.objects.values_list("pk", "name"))
    journeys = {pk: (order_id, playbook, started_at) for pk, order_id, playbook, started_at in Journey.objects.filter(
        pk__in={s.journey_id for s in missed}).values_list("pk", "order_id", "playbook__name", "started_at")}
    events, raises = [], []
    for step in missed:
        order_id, playbook, started_at = journeys[step.journey_id]
        day = journey_day(step.due_at, started_at)
        events.append(step_missed_event(step=step, team_name=teams.get(step.team_id, ""), day=day, actor=actor,
                                        missed_at=now))
        raises.append(Raise(
            subject_key=subject_of(step.pk), customer=step.customer_id, order=order_id,
            summary=f"{step.name} missed: it was due on day {day} of the first 30 days",
            evidence={"journey_id": step.journey_id, "step_id": step.pk, "step": step.key, "playbook": playbook,
                      "team": teams.get(step.team_id, ""), "due_at": step.due_at.isoformat()},
            queue_id=step.team_id, sla_minutes=step.sla_minutes))
    rows.insert_many(TimelineEvent, events)
    exceptions_raise(kind=ExceptionKind.MISSED_TOUCHPOINT, raises=raises, actor=actor)
