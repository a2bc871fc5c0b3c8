"""Raising and resolving exceptions: at most one open per (kind, subject), enforced by the database.

Raising is safe to repeat: while one is open, a new raise updates its evidence and counts the
occurrence instead of opening another. When the condition recurs after the exception was closed,
the last closed one is reopened (one record per problem, with its history), not a second row.
Where it goes, how urgent it is and when it is due come from the kind's ExceptionPolicy and the
business calendar of the queue that owns it. Resolvers close their own kind when the condition clears.
"""

import contextlib
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.db import exceptions as exception_rows
from lifecycle.db import rows
from lifecycle.models import CLOSED_STATUSES, ExceptionCase, TimelineEvent
from lifecycle.services import sla, timeline
from lifecycle.services.room import room_made


@dataclass
class Raise:
    """One (kind, subject) to raise in a batch. `customer` and `order` are instances or ids. `queue_id`
    and `sla_minutes` override the kind's policy for this one (a journey step's team and its SLA);
    `severity` overrides the policy's default, and on a repeat can only raise it."""

    subject_key: str
    summary: str
    evidence: dict = field(default_factory=dict)
    customer: object = None
    order: object = None
    severity: int | None = None
    queue_id: int | None = None
    sla_minutes: int | None = None

    @property
    def customer_id(self):
        if self.customer is not None:
            return getattr(self.customer, "pk", self.customer)
        return getattr(self.order, "customer_id", None)


def exception_raise(*, kind, subject_key, summary, actor, evidence=None, customer=None, order=None, severity=None):
    """Open the (kind, subject) exception, refresh the open one, or reopen the last closed one: a
    batch of one. Returns (exception, opened): opened is True when this call opened or reopened it,
    False when it refreshed the open one."""
    one = Raise(subject_key=subject_key, summary=summary, evidence=evidence or {}, customer=customer, order=order,
                severity=severity)
    return exceptions_raise(kind=kind, raises=[one], actor=actor)[0]


def exceptions_raise(*, kind, raises, actor):
    """Raise every Raise of `raises` (one kind; a subject named twice counts as its last): refresh the
    open ones, open the others, reopen those closed before. Set-based on PostgreSQL: one statement
    refreshes the open ones and reads the facts of the rest, one writes the new exceptions and their
    timeline events; a reopening (the rare case) locks its record. Returns (exception, opened) per
    Raise, in order."""
    if not raises:
        return []
    distinct = list({r.subject_key: r for r in raises}.values())
    policy, now = sla.policy_for(kind), timezone.now()
    routed = policy.route_to_owner_team
    found = exception_rows.refresh_or_facts_many(kind, [
        (r.subject_key, r.summary[:300], r.evidence, r.severity, r.customer_id if routed else None)
        for r in distinct], now)
    results, new, reopen = {}, [], []
    for r, (current, facts) in zip(distinct, found):
        if current is not None:
            results[r.subject_key] = (current, False)
        else:
            (reopen if facts.has_closed else new).append((r, facts))
    results |= _open_new(kind, new, policy, now, actor)
    for r, facts in reopen:
        results[r.subject_key] = _reopen_one(kind, r, _values(r, policy, facts, now), actor)
    return [results[r.subject_key] for r in raises]


def _values(r, policy, facts, now):
    queue_id = r.queue_id or facts.owner_team or policy.queue_id
    minutes = r.sla_minutes if r.sla_minutes is not None else policy.sla_minutes
    return {"summary": r.summary[:300], "evidence": r.evidence, "queue_id": queue_id,
            "severity": r.severity or policy.severity, "opened_at": now,
            "due_at": sla.due_at(policy, queue_id, now, minutes=minutes)}


def _open_new(kind, new, policy, now, actor):
    """Insert the exceptions nobody raised before, with their timeline events. When a concurrent raise
    opened one of them first (the one-open index refuses the statement, and it wrote nothing), each
    is raised again on its own: it then refreshes the one the other raise opened."""
    if not new:
        return {}
    exceptions = [ExceptionCase(id=facts.new_id, kind=kind, subject_key=r.subject_key, customer_id=r.customer_id,
                                order_id=getattr(r.order, "pk", r.order), **_values(r, policy, facts, now))
                  for r, facts in new]
    try:
        # Outside a transaction on PostgreSQL one opening is one statement, atomic by itself; inside
        # one, the savepoint keeps the caller's transaction usable when a concurrent raise wins.
        single = len(new) == 1 and connection.vendor == rows.ALLOCATES_IDS and not connection.in_atomic_block
        with contextlib.nullcontext() if single else transaction.atomic():
            _insert(exceptions, actor)
    except IntegrityError:
        if len(new) == 1:
            r = new[0][0]
            current = exception_rows.refresh_open(kind, r.subject_key, r.summary[:300], r.evidence, r.severity)
            if current is None:
                raise
            return {r.subject_key: (current, False)}
        return {r.subject_key: exceptions_raise(kind=kind, raises=[r], actor=actor)[0] for r, _ in new}
    for exception, (r, _) in zip(exceptions, new):
        for name in ("customer", "order"):  # the caller's instances, as a save would have kept them
            if hasattr(getattr(r, name), "pk"):
                setattr(exception, name, getattr(r, name))
    return {e.subject_key: (e, True) for e in exceptions}


def _insert(exceptions, actor):
    allocated = exceptions[0].pk is not None
    if not allocated:  # ids not reserved ahead (SQLite): each insert gives its id to its event
        for exception in exceptions:
            exception.save(force_insert=True)
    events = [timeline.exception_opened_event(exception=e, actor=actor) for e in exceptions if e.customer_id]
    if len(exceptions) == 1:
        rows.execute_together(([rows.insert_statement(exceptions[0])] if allocated else [])
                              + [rows.insert_statement(e) for e in events])
        rows.mark_saved(*exceptions)
        return
    if allocated:
        rows.insert_many(ExceptionCase, exceptions)
    rows.insert_many(TimelineEvent, events)


def _reopen_one(kind, r, values, actor):
    try:
        with transaction.atomic():
            return _reopen_last_closed(kind, r.subject_key, values, r.customer, r.order, actor), True
    except IntegrityError:  # reopened (or opened) by a concurrent raise first: count this one on it
        current = exception_rows.refresh_open(kind, r.subject_key, r.summary[:300], r.evidence, r.severity)
        if current is None:
            raise
        return current, False


def _reopen_last_closed(kind, subject_key, values, customer, order, actor):
    """A recurrence (the rare case): lock the last closed record and reopen it.

    Raises IntegrityError, as a second open row would, when a concurrent raise reopened it first.
    """
    with transaction.atomic():
        closed = (ExceptionCase.objects.select_for_update()
                  .filter(kind=kind, subject_key=subject_key, status__in=CLOSED_STATUSES)
                  .order_by(F("closed_at").desc(nulls_last=True), "-pk").first())
        if closed is None:
            raise IntegrityError(f"{kind} {subject_key} was reopened by a concurrent raise")
        return _reopen(closed, values, customer, order, actor)


def _reopen(exception, values, customer, order, actor):
    """Reopen a closed exception as if new: fresh clock in its (re-chosen) queue, unclaimed, not breached."""
    previous_status, previous_reason = exception.status, exception.resolution_reason
    exception.reopen()
    for name, value in values.items():
        setattr(exception, name, value)
    for name, value in (("customer", customer), ("order", order)):
        if hasattr(value, "pk"):
            setattr(exception, name, value)
        elif value is not None:
            setattr(exception, f"{name}_id", value)
    exception.reopened_count += 1
    exception.occurrences += 1
    exception.assignee = exception.claimed_at = exception.breached_at = exception.escalated_from = None
    exception.closed_at, exception.resolution_reason = None, ""
    exception.save()
    if exception.customer_id:
        timeline.record_exception_reopened(exception=exception, actor=actor, previous_status=previous_status,
                                           previous_reason=previous_reason)
    return exception


def exception_resolve(*, kind, subject_key, reason, actor):
    """Close the open (kind, subject) exception because its condition cleared: a batch of one.
    Returns the exception closed, or None if none was open."""
    closed = exceptions_resolve(kind=kind, reasons={subject_key: reason}, actor=actor)
    return ExceptionCase.objects.get(pk=closed[0].id) if closed else None


def exceptions_resolve(*, kind, reasons, actor):
    """Close the open exceptions of `kind` whose subjects are the keys of `reasons` ({subject: why
    it cleared}): their conditions cleared. Set-based: one UPDATE (per 5,000) and one insert of
    timeline events, however many, and no model loaded. Returns lifecycle.db.exceptions.Resolved
    rows, one per exception closed."""
    if not reasons:
        return []
    with transaction.atomic():
        if connection.vendor == rows.ALLOCATES_IDS:  # the events in the same statement, built in SQL
            closed = exception_rows.resolve_open(kind, reasons, timezone.now(), timeline.exception_resolved_insert_sql(
                source=exception_rows.CLOSED, actor=actor, first=exception_rows.EVENTS_FIRST_PARAM))
        else:
            closed = exception_rows.resolve_open(kind, reasons, timezone.now())
            rows.insert_many(TimelineEvent, [timeline.exception_resolved_event(exception=row, actor=actor)
                                             for row in closed if row.customer_id])
        room_made(agent_ids={row.assignee_id for row in closed})  # who worked them has room again
    return closed


_closed_hooks = []


def exceptions_closed_register(hook):
    """An integration hears of every exception a person closes (resolved or dismissed, through
    queues.exception_close): `hook(exception, actor)` runs in the closing transaction, so what it
    writes (the CRM's outbox pushing the console's owner back after an ownership conflict) commits
    with the close or not at all. Registering the same hook again changes nothing. Exceptions that
    resolve themselves (their condition cleared) are not announced: nobody decided anything."""
    if hook not in _closed_hooks:
        _closed_hooks.append(hook)


def exceptions_closed_unregister(hook):
    if hook in _closed_hooks:
        _closed_hooks.remove(hook)


def exception_closed(exception, actor):
    """Announce a person's close to the registered hooks (queues.exception_close calls it)."""
    for hook in _closed_hooks:
        hook(exception, actor)
