"""Raising and resolving exceptions: at most one open per (kind, subject), enforced by the database.

Raising is safe to repeat: while one is open, a new raise updates its evidence and counts the
occurrence instead of opening another. When the condition recurs after the exception was closed,
the last closed one is reopened (one record per problem, with its history), not a second row.
Where it goes, how urgent it is and when it is due come from the kind's ExceptionPolicy and the
business calendar of the queue that owns it. Resolvers close their own kind when the condition clears.
"""

import contextlib
import functools
from collections import namedtuple

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.models import CLOSED_STATUSES, OPEN_STATUSES, ExceptionCase, Ownership
from lifecycle.db import rows
from lifecycle.services import sla, timeline


def _literals(statuses):
    # Model constants, not input: as literals (not parameters) they let a prepared statement's
    # generic plan use the open-only indexes, whose conditions name the statuses.
    return ", ".join(f"'{status}'" for status in statuses)


# What a raise needs to know when the (kind, subject) is not open: the customer's owning team (for
# kinds routed to it), whether there is a closed record to reopen, and a reserved id for a new row so
# it and its timeline event can be written as one statement (see rows.py; a refresh leaves that id
# unused, a harmless gap).
FACTS = """(SELECT team_id FROM {ownership} WHERE customer_id = %(customer)s),
           EXISTS (SELECT 1 FROM {exception} WHERE kind = %(kind)s AND subject_key = %(subject)s
                                                AND status IN ({closed})),
           {next_id}"""
# Count one more occurrence on the open (kind, subject) exception: it locks, changes and reads the
# row in one round trip (PostgreSQL, SQLite ≥ 3.35). A repeat's severity can only go up.
REFRESH = """UPDATE {exception}
       SET evidence = %(evidence)s, summary = %(summary)s, occurrences = occurrences + 1, updated_at = %(now)s,
           severity = CASE WHEN severity < %(severity)s THEN %(severity)s ELSE severity END
     WHERE kind = %(kind)s AND subject_key = %(subject)s AND status IN ({open})
 RETURNING {columns}"""
# PostgreSQL: one statement refreshes the open exception if there is one (a repeat is then done, in one
# round trip) and reads the facts an opening needs otherwise (the subqueries see the table as it was
# before the UPDATE, like the facts query did before a separate refresh).
REFRESH_OR_FACTS = """WITH refreshed AS ({refresh})
    SELECT refreshed.*, {facts} FROM (VALUES (1)) AS one LEFT JOIN refreshed ON true"""
# Elsewhere: whether it is open, and the facts; a refresh follows when it is.
OPEN_AND_FACTS = """SELECT EXISTS (SELECT 1 FROM {exception} WHERE kind = %(kind)s AND subject_key = %(subject)s
                                         AND status IN ({open})),
           {facts}"""
Facts = namedtuple("Facts", "owner_team has_closed new_id")


@functools.cache
def _sql(template):
    names = {"ownership": Ownership._meta.db_table, "exception": ExceptionCase._meta.db_table,
             "open": _literals(OPEN_STATUSES), "closed": _literals(CLOSED_STATUSES),
             "next_id": rows.next_id_sql(ExceptionCase), "columns": rows.columns(ExceptionCase)}
    names |= {"facts": FACTS.format(**names), "refresh": REFRESH.format(**names)}
    return template.format(**names)


def _refresh_params(kind, subject_key, summary, evidence, severity):
    field = ExceptionCase._meta.get_field  # values prepared as the ORM would store them (JSON, times)
    return {"kind": kind, "subject": subject_key, "summary": summary, "severity": severity or 0,
            "now": field("updated_at").get_db_prep_save(timezone.now(), connection),
            "evidence": field("evidence").get_db_prep_save(evidence, connection)}


def _refresh_or_facts(kind, subject_key, summary, evidence, severity, customer_id):
    """(the refreshed exception or None, Facts for opening it): one statement on PostgreSQL."""
    params = _refresh_params(kind, subject_key, summary, evidence, severity) | {"customer": customer_id}
    with rows.cursor() as cursor:
        if connection.vendor == rows.ALLOCATES_IDS:
            cursor.execute(_sql(REFRESH_OR_FACTS), params)
            *refreshed, owner_team, has_closed, new_id = cursor.fetchone()
            current = rows.from_row(ExceptionCase, refreshed) if refreshed[0] is not None else None
            return current, Facts(owner_team, has_closed, new_id)
        cursor.execute(_sql(OPEN_AND_FACTS), params)
        is_open, *facts = cursor.fetchone()
    # Closed since we looked (None): opened again by the caller.
    current = _refresh_open(kind, subject_key, summary, evidence, severity) if is_open else None
    return current, Facts(*facts)


def _locked_open(kind, subject_key):
    return (ExceptionCase.objects.select_for_update()
            .filter(kind=kind, subject_key=subject_key, status__in=OPEN_STATUSES).first())


def _refresh_open(kind, subject_key, summary, evidence, severity):
    """Count one more occurrence on the open (kind, subject) exception; None when none is open."""
    with rows.cursor() as cursor:
        cursor.execute(_sql(REFRESH), _refresh_params(kind, subject_key, summary, evidence, severity))
        row = cursor.fetchone()
    return rows.from_row(ExceptionCase, row) if row else None


def exception_raise(*, kind, subject_key, summary, actor, evidence=None, customer=None, order=None, severity=None):
    """Open the (kind, subject) exception, refresh the open one, or reopen the last closed one.

    Returns (exception, opened): opened is True when this call opened or reopened it, False when it
    refreshed the open one. `severity` overrides the policy's default; on a repeat it can only raise it.
    """
    evidence, summary = evidence or {}, summary[:300]
    policy = sla.policy_for(kind)
    customer_id = customer.pk if customer else (order.customer_id if order else None)
    current, facts = _refresh_or_facts(kind, subject_key, summary, evidence, severity,
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
        current = _refresh_open(kind, subject_key, summary, evidence, severity)
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
    """Close the open (kind, subject) exception because its condition cleared; None if none is open."""
    with transaction.atomic():
        current = _locked_open(kind, subject_key)
        if current is None:
            return None
        current.resolve()
        current.resolution_reason = reason
        current.closed_at = timezone.now()
        current.save(update_fields=["status", "resolution_reason", "closed_at", "updated_at"])
        if current.customer_id:
            timeline.record_exception_resolved(exception=current, actor=actor)
    return current
