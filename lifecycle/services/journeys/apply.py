"""What timeline events do to journeys, for a batch of events (the follower's, or a person's mark as
a batch of one): exits end journeys, triggers re-time steps, signals complete them.

Behaviour first, the calendar second: a "delivered" order re-times its delivery check-in to the
delivery plus the step's days; until it does, the calendar's due time holds. A signal completes the
step it is nearest to in time among the steps it may complete (so an email on day 2 is a second
welcome email, not an early review request), on time or late; a second touchpoint on a done step
flags it duplicated, with both events as evidence. A signal for a missed step completes it late
and resolves its missed_touchpoint, saying why.

Idempotent: every step keeps the ids of the events it took (its evidence), and an event already
taken by one of the customer's steps is skipped, so the follower may read an event twice.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection

from lifecycle.db import rows
from lifecycle.db.sql import table
from lifecycle.models import Customer, Journey, JourneyStatus, JourneyStep, Order, OrderState, StepState, TimelineEvent
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exceptions_resolve
from lifecycle.services.journeys import ending, signals
from lifecycle.services.journeys.ending import subject_of
from lifecycle.services.journeys.events import journey_day, step_done_event
from lifecycle.services.journeys.timing import ON_TIME_GRACE, is_late
from lifecycle.services.timeline import ACTIVITY_LABELS

OPEN = (StepState.PENDING, StepState.MISSED)
DONE = (StepState.DONE, StepState.LATE)
STEP_FIELDS = ["state", "due_at", "done_at", "missed_at", "done_by", "duplicated", "evidence"]
SOURCES = {"shop": "the shop", "erp": "the ERP", "crm": "the CRM", "console": "the console", "system": "the console"}


@dataclass
class Batch:
    """What a batch changes, written at the end in one statement per table."""

    actor: object
    now: object
    steps: dict = field(default_factory=dict)  # id → step changed
    journeys: dict = field(default_factory=dict)  # id → journey ended
    events: list = field(default_factory=list)
    resolve: dict = field(default_factory=dict)  # exception subject → why it cleared
    completed: list = field(default_factory=list)  # (journey, its last step) completed in this batch


def follow_events(events, *, actor, now):
    """Apply `events` (TimelineEvent rows, in id order) to their customers' journeys; the caller holds
    a transaction. Locks as the shops' and the ERP's batches do, orders before customers: the orders
    of the customers' journeys (shared: what this batch writes refers to them), then the customers
    (id order, against other writers of them, not against rows being written that refer to them),
    then their journeys' steps."""
    by_customer = defaultdict(list)
    for event in events:
        signal = signals.signal_of(event.kind, event.data)
        if signal is not None:
            by_customer[event.customer_id].append((event, signal))
    if not by_customer:
        return Batch(actor, now)
    ids = sorted(by_customer)
    follow_lock(ids)
    journeys = {j.pk: j for j in Journey.objects.filter(customer_id__in=ids).select_related("playbook", "version", "order")
                .only(*JOURNEY_FIELDS)}
    steps = defaultdict(list)
    for step in (JourneyStep.objects.select_for_update().filter(journey_id__in=list(journeys))
                 .order_by("journey_id", "position", "id")):
        steps[step.customer_id].append(step)
    batch = Batch(actor, now)
    for customer_id, items in by_customer.items():
        taken = {entry.get("event") for step in steps[customer_id] for entry in step.evidence}
        for event, signal in items:
            if event.id not in taken:
                _apply(batch, event, signal, journeys, steps[customer_id])
    ending.complete_finished(batch, journeys, steps)
    _write(batch)
    return batch


def follow_lock(customer_ids):
    """The locks of a batch (see follow_events). A row an insert refers to is checked at commit (a
    KEY SHARE lock): taken here first, the orders' cannot wait behind a batch holding an order while
    it waits for one of these customers, and the customers' lock (NO KEY UPDATE) makes nobody's check
    wait for this batch. Locked, not loaded: only the customers whose journey completes are read
    whole (ending.activate)."""
    if connection.vendor == "postgresql":  # SQLite serialises writers by itself
        orders = sorted(set(Journey.objects.filter(customer_id__in=customer_ids, order__isnull=False)
                            .values_list("order_id", flat=True)))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table(Order)} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [orders])
    list(Customer.objects.select_for_update(no_key=True).filter(pk__in=customer_ids).order_by("pk")
         .values_list("pk", flat=True))


JOURNEY_FIELDS = ("id", "customer_id", "playbook_id", "version_id", "order_id", "status", "started_at", "ended_at",
                  "end_reason", "playbook__name", "version__conditions", "version__number", "order__paid_at",
                  "order__state")  # django-fsm reads an order's state as it is built: a deferred one costs a query


def _apply(batch, event, signal, journeys, steps):
    running = [s for s in steps if journeys[s.journey_id].status == JourneyStatus.RUNNING]
    if signal.exit:
        for journey in {journeys[s.journey_id] for s in running}:
            if signal.exit in journey.version.conditions.get("exit_on", []) and _about(journey, event, signal):
                ending.end_early(batch, journey, [s for s in steps if s.journey_id == journey.pk],
                                 signals.EXITS[signal.exit])
        running = [s for s in running if journeys[s.journey_id].status == JourneyStatus.RUNNING]
    if signal.kind == signals.ORDER:
        _retime(batch, event, signal, journeys, running)
    if signal.kind:
        _complete(batch, event, signal, journeys, running)


def _about(journey, event, signal):
    """An order's event is about the journey when it is the journey's order (or the journey has none)."""
    return signal.kind != signals.ORDER or journey.order_id is None or event.order_id == journey.order_id


def _retime(batch, event, signal, journeys, running):
    for step in running:
        journey = journeys[step.journey_id]
        if signals.TRIGGER_STATES.get(step.trigger) != signal.detail or not _about(journey, event, signal):
            continue
        if step.state not in OPEN or step.due_at != step.calendar_due_at:
            continue  # done, or re-timed already by the first time it happened
        step.due_at = event.occurred_at + timedelta(days=step.trigger_days)
        if step.state == StepState.MISSED and step.due_at + ON_TIME_GRACE > batch.now:
            step.state, step.missed_at = StepState.PENDING, None
            batch.resolve[subject_of(step.pk)] = (
                f"Re-timed: the order was {signal.detail} on day {journey_day(event.occurred_at, journey.started_at)}, "
                f"so {step.name} is now due {step.trigger_days} day(s) after it")
        batch.steps[step.pk] = step


def _complete(batch, event, signal, journeys, running):
    at = event.occurred_at
    if signal.kind == signals.ORDER and signal.detail == OrderState.PAID:
        journey_orders = {journeys[s.journey_id].order for s in running}
        paid = next((o.paid_at for o in journey_orders if o is not None and o.pk == event.order_id), None)
        at = paid or at  # when the system says it was paid, not when the console heard
    wanted = event.data.get("step_id") if signal.kind == signals.TOUCHPOINT else None
    candidates = []
    for step in running:
        journey = journeys[step.journey_id]
        if wanted is not None and step.pk != wanted:
            continue
        if at < journey.started_at - ON_TIME_GRACE or not _about(journey, event, signal):
            continue
        if not signals.matches(step.signals, signal):
            continue
        if step.state in OPEN or (step.state in DONE and signal.is_touchpoint):
            candidates.append(step)
    if not candidates:
        return
    step = min(candidates, key=lambda s: (abs(at - s.due_at), s.state in DONE, s.position))
    entry = _entry(event, signal, at)
    step.evidence = [*step.evidence, entry]
    batch.steps[step.pk] = step
    if step.state in DONE:
        step.duplicated = True
        batch.events.append(step_done_event(step=step, entry=entry, actor=batch.actor, duplicated=True))
        return
    was_missed = step.state == StepState.MISSED
    step.state = StepState.LATE if is_late(at, step.due_at) else StepState.DONE
    step.done_at, step.done_by = at, entry
    batch.events.append(step_done_event(step=step, entry=entry, actor=batch.actor))
    if was_missed:
        how = "done late" if step.state == StepState.LATE else "done on time after all (the news came late)"
        batch.resolve[subject_of(step.pk)] = f"{step.name} {how}: {entry['said']}"


def _entry(event, signal, at):
    """The evidence one event gives a step, with its words."""
    data = event.data
    if signal.kind == signals.ORDER:
        state = OrderState(signal.detail).label.lower() if signal.detail in OrderState.values else signal.detail
        said = f"the order was {state} ({SOURCES.get(event.source, event.source)})"
    elif signal.kind == signals.CRM:
        said = f"{ACTIVITY_LABELS.get(signal.detail, signal.detail or 'Activity')} in the CRM"
        if data.get("subject"):
            said += f" “{data['subject'][:80]}”"
    else:
        said = f"marked done by {data.get('by_name') or event.actor_ref}: {data.get('comment', '')}"
    return {"event": event.id, "kind": signal.kind, "detail": signal.detail, "at": at.isoformat(),
            "team_id": data.get("team_id"), "by": event.actor_ref, "said": said}


def _write(batch):
    if batch.steps:
        rows.update_many(JourneyStep, list(batch.steps.values()), STEP_FIELDS)
    if batch.journeys:
        rows.update_many(Journey, list(batch.journeys.values()), ["status", "ended_at", "end_reason"])
    changes = ending.activate(batch)
    rows.insert_many(TimelineEvent, batch.events)
    if batch.resolve:
        exceptions_resolve(kind=ExceptionKind.MISSED_TOUCHPOINT, reasons=batch.resolve, actor=batch.actor)
    ending.stages_follow_activated(changes)
