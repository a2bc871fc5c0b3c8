"""One builder per journey timeline kind (journey_started, journey_step_done, journey_step_missed,
journey_ended, touchpoint), so each has one shape. Unsaved: the journeys' batch paths insert what
they collect in one statement, inside the transaction of the change they describe.

Summaries say when in the journey's days ("due on day 7"), never a date: the console writes every
moment as a <time> element in the reader's format, and a summary is stored text (the moments are in
`data`)."""

from django.utils import timezone

from lifecycle.models import EventKind, EventSource, TimelineEvent


def journey_day(moment, started_at):
    """Which day of its journey a moment falls on: day 0 is the payment."""
    return max(0, (moment - started_at).days)


def _event(*, customer_id, kind, actor, summary, data, order_id=None, occurred_at=None):
    return TimelineEvent(customer_id=customer_id, order_id=order_id, kind=kind,
                         source=EventSource.CONSOLE if actor.is_user else EventSource.SYSTEM,
                         summary=summary[:300], data=data, occurred_at=occurred_at or timezone.now(),
                         **actor.as_fields())


def journey_started_event(*, journey, playbook_name, version_number, steps, actor):
    last = max(steps, key=lambda s: s.calendar_due_at)
    return _event(
        customer_id=journey.customer_id, order_id=journey.order_id, kind=EventKind.JOURNEY_STARTED, actor=actor,
        summary=(f"Journey “{playbook_name}” started: {len(steps)} steps, the last due on day "
                 f"{journey_day(last.calendar_due_at, journey.started_at)}"),
        data={"journey_id": journey.pk, "playbook_id": journey.playbook_id, "version": version_number,
              "started_at": journey.started_at.isoformat()})


def step_done_event(*, step, entry, actor, duplicated=False):
    """A step completed (on time or late), or completed again (`duplicated`); `entry` is the evidence."""
    if duplicated:
        how = "done again, so it is flagged duplicated"
    else:
        how = "done late" if step.state == "late" else "done on time"
    return _event(
        customer_id=step.customer_id, kind=EventKind.JOURNEY_STEP_DONE, actor=actor,
        summary=f"{step.name} {how}: {entry['said']}",
        data={"journey_id": step.journey_id, "step_id": step.pk, "step": step.key, "state": step.state,
              "duplicated": duplicated, "event_id": entry["event"]})


def step_missed_event(*, step, team_name, day, actor, missed_at):
    """`day`: the journey's day the step was due on."""
    return _event(
        customer_id=step.customer_id, kind=EventKind.JOURNEY_STEP_MISSED, actor=actor, occurred_at=missed_at,
        summary=f"{step.name} missed: it was due on day {day} ({team_name})",
        data={"journey_id": step.journey_id, "step_id": step.pk, "step": step.key, "team_id": step.team_id,
              "due_at": step.due_at.isoformat()})


def journey_ended_event(*, journey, playbook_name, completed, reason, actor):
    verb = "completed" if completed else "ended early"
    return _event(
        customer_id=journey.customer_id, order_id=journey.order_id, kind=EventKind.JOURNEY_ENDED, actor=actor,
        summary=f"Journey “{playbook_name}” {verb}: {reason}",
        data={"journey_id": journey.pk, "status": journey.status, "reason": reason})


def touchpoint_event(*, step, team_id, comment, actor):
    """A person's word that a step's touchpoint happened: the signal that completes it."""
    who = actor.user.get_full_name() or actor.user.get_username()
    return _event(
        customer_id=step.customer_id, kind=EventKind.TOUCHPOINT, actor=actor,
        summary=f"{step.name} marked done by {who}: {comment}",
        data={"journey_id": step.journey_id, "step_id": step.pk, "step": step.key, "team_id": team_id,
              "by_name": who, "comment": comment})
