"""Raising and resolving exceptions: at most one open per (kind, subject), enforced by the database.

Raising is safe to repeat: while one is open, a new raise updates its evidence and counts the
occurrence instead of opening another. When the condition recurs after the exception was closed,
the last closed one is reopened (one record per problem, with its history), not a second row.
Where it goes, how urgent it is and when it is due come from the kind's ExceptionPolicy and the
business calendar of the queue that owns it. Resolvers close their own kind when the condition clears.
"""

import contextlib

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.db import exceptions as exception_rows
from lifecycle.db import rows
from lifecycle.models import CLOSED_STATUSES, ExceptionCase, TimelineEvent
from lifecycle.services import sla, timeline
from lifecycle.services.room import room_made


def exception_raise(*, kind, subject_key, summary, actor, evidence=None, customer=None, order=None, severity=None):
    """Open the (kind, subject) exception, refresh the open one, or reopen the last closed one.

    Returns (exception, opened): opened is True when this call opened or reopened it, False when it
    refreshed the open one. `severity` overrides the policy's default; on a repeat it can only raise it.
    """
    evidence, summary = evidence or {}, summary[:300]
    policy = sla.policy_for(kind)
    customer_id = customer.pk if customer else (order.customer_id if order else None)
    current, facts = exception_rows.refresh_or_facts(kind, subject_key, summary, evidence, severity,
                                                     customer_id if policy.route_to_owner_team else None)
    if current is not None:
        return current, False
    try:
        # Outside a transaction on PostgreSQL the opening is one statement, atomic by itself; inside
        # one, the savepoint keeps the caller's transaction usable when a concurrent raise wins.
        single = connection.vendor == rows.ALLOCATES_IDS and not connection.in_atomic_block
        with contextlib.nullcontext() if single else transaction.atomic():
            return _open(kind, subject_key, summary, evidence, customer, order, severity, actor, policy, facts), True
    except IntegrityError:
        # Another raise opened it between our look and our write (the one-open index refused ours,
        # and rolled back everything this call wrote): count this raise on that one instead.
        current = exception_rows.refresh_open(kind, subject_key, summary, evidence, severity)
        if current is None:
            raise
        return current, False


def _open(kind, subject_key, summary, evidence, customer, order, severity, actor, policy, facts):
    queue_id = facts.owner_team or policy.queue_id
    now = timezone.now()
    values = {
        "summary": summary, "evidence": evidence, "queue_id": queue_id, "severity": severity or policy.severity,
        "opened_at": now, "due_at": sla.due_at(policy, queue_id, now),
    }
    if facts.has_closed:
        return _reopen_last_closed(kind, subject_key, values, customer, order, actor)
    new_id = facts.new_id
    exception = ExceptionCase(id=new_id, kind=kind, subject_key=subject_key, customer=customer, order=order,
                              **values)
    if new_id is None:
        exception.save(force_insert=True)
    writes = [] if new_id is None else [rows.insert_statement(exception)]
    if customer is not None:
        writes.append(rows.insert_statement(timeline.exception_opened_event(exception=exception, actor=actor)))
    rows.execute_together(writes)
    rows.mark_saved(exception)
    return exception


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
    if customer is not None:
        exception.customer = customer
    if order is not None:
        exception.order = order
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
