"""One builder per timeline event kind, so every event of a kind has one shape.

Builders only insert; callers run them inside the transaction of the change they describe, so a
change and its event are written together or not at all.
"""

from datetime import UTC

from django.utils import timezone
from django.utils.formats import date_format

from lifecycle.db import rows
from lifecycle.db import timeline as timeline_rows
from lifecycle.models import EventKind, EventSource, ExceptionKind, Severity, TimelineEvent


def _event(*, customer, kind, source, actor, summary, order=None, data=None, occurred_at=None):
    # `customer` may be its id: an order's events need not load the order's customer. Built by
    # rows.new: a batch's thousand events, each through Model.__init__, cost more than writing them.
    who = {"customer_id": customer} if isinstance(customer, int) else {"customer": customer}
    return rows.new(
        TimelineEvent,
        **who,
        order=order,
        kind=kind,
        source=source,
        summary=summary[:300],
        data=data or {},
        occurred_at=occurred_at or timezone.now(),
        **actor.as_fields(),
    )


def _record(**fields):
    event = _event(**fields)
    event.save(force_insert=True)
    return event


def _recorded(build):
    """record_<kind> from <kind>_event: build the event and save it now. The batch paths call the
    builder and insert what they collected in one statement."""

    def record(**kwargs):
        event = build(**kwargs)
        event.save(force_insert=True)
        return event

    return record


def _source_for(actor):
    return EventSource.CONSOLE if actor.is_user else EventSource.SYSTEM


def customer_created_event(*, customer, actor, source=None):
    return _event(
        customer=customer,
        kind=EventKind.CUSTOMER_CREATED,
        source=source or _source_for(actor),
        actor=actor,
        summary=f"Customer {customer} created",
        data={"email": customer.email},
    )


record_customer_created = _recorded(customer_created_event)


def identity_linked_event(*, identity, actor, source=None):
    return _event(
        customer=identity.customer,
        kind=EventKind.IDENTITY_LINKED,
        source=source or _source_for(actor),
        actor=actor,
        summary=f"Linked {identity}",
        data={"kind": identity.kind, "namespace": identity.namespace, "value": identity.value},
    )


record_identity_linked = _recorded(identity_linked_event)


def handoff_event(*, handoff, actor, from_owner):
    """The handoff's event, unsaved: the ownership service writes it in the handoff's own statement.

    `from_owner` is the previous owner's label ("nobody" for a first owner), which the service read
    with its lock; the new owner's comes from the handoff.
    """
    to_owner = f"{handoff.to_team} / {handoff.to_agent or 'unassigned'}"
    return _event(
        customer=handoff.customer,
        kind=EventKind.HANDOFF,
        source=_source_for(actor),
        actor=actor,
        summary=f"Owner {from_owner} → {to_owner}: {handoff.reason}",
        data={
            "handoff_id": handoff.pk,
            "from_team_id": handoff.from_team_id,
            "from_agent_id": handoff.from_agent_id,
            "to_team_id": handoff.to_team_id,
            "to_agent_id": handoff.to_agent_id,
            "rule": handoff.rule,
        },
        occurred_at=handoff.created_at,
    )


def stage_changed_event(*, customer, from_stage, to_stage, transition, reason, actor):
    summary = f"Stage {from_stage} → {to_stage}" + (f": {reason}" if reason else "")
    return _event(
        customer=customer,
        kind=EventKind.STAGE_CHANGED,
        source=_source_for(actor),
        actor=actor,
        summary=summary,
        data={"from": from_stage, "to": to_stage, "transition": transition, "reason": reason},
    )


record_stage_changed = _recorded(stage_changed_event)


def order_created_event(*, order, actor, source=EventSource.SHOP):
    return _event(
        customer=order.customer_id,
        order=order,
        kind=EventKind.ORDER_CREATED,
        source=source,
        actor=actor,
        summary=f"Order #{order.number} placed: {order.total} {order.currency}, {order.get_state_display()}",
        data={"order_id": order.pk, "state": order.state, "total": str(order.total), "currency": order.currency},
        occurred_at=order.placed_at,
    )


record_order_created = _recorded(order_created_event)


def order_state_changed_event(*, order, from_state, to_state, actor, source=EventSource.SHOP, raw_status=""):
    """By the order's id (it is saved before it moves): a batch of a thousand moves, each an event,
    does not set a thousand relations."""
    event = _event(
        customer=order.customer_id,
        kind=EventKind.ORDER_STATE_CHANGED,
        source=source,
        actor=actor,
        summary=f"Order #{order.number} {from_state} → {to_state}" + (f" (raw: {raw_status})" if raw_status else ""),
        data={"order_id": order.pk, "from": from_state, "to": to_state, "raw_status": raw_status},
    )
    event.order_id = order.pk
    return event


record_order_state_changed = _recorded(order_state_changed_event)


def exception_opened_event(*, exception, actor):
    """Unsaved: exceptions_raise writes it in the same statement as the exception. By the exception's
    customer and order ids: a batch of raises loads neither."""
    event = _event(
        customer=exception.customer_id,
        kind=EventKind.EXCEPTION_OPENED,
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception opened: {exception.get_kind_display()}: {exception.summary}",
        data={"exception_id": exception.pk, "kind": exception.kind, "subject": exception.subject_key},
    )
    event.order_id = exception.order_id
    return event


def exception_resolved_event(*, exception, actor):
    """`exception`: an ExceptionCase, or a row with its id, kind, customer_id, order_id and resolution_reason."""
    event = _event(
        customer=exception.customer_id,
        kind=EventKind.EXCEPTION_RESOLVED,
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception resolved: {ExceptionKind(exception.kind).label}: {exception.resolution_reason}",
        data={"exception_id": exception.id, "kind": exception.kind, "reason": exception.resolution_reason},
    )
    event.order_id = exception.order_id
    return event


record_exception_resolved = _recorded(exception_resolved_event)


def exception_resolved_insert_sql(*, source, actor, first):
    """exception_resolved_event's events as one INSERT … SELECT from `source` (PostgreSQL): see
    lifecycle/db/timeline.py. Returns (sql, positional params numbered from `first`)."""
    return timeline_rows.exception_resolved_insert_sql(source=source, actor=actor, event_source=_source_for(actor),
                                                       first=first)



# A CRM activity's body is kept on the timeline up to this length: enough to read what was said,
# while a long email thread stays in the CRM, a click away.
ACTIVITY_BODY_CHARS = 1000
ACTIVITY_LABELS = {"note": "Note", "call": "Call", "email": "Email", "meeting": "Meeting", "task": "Task"}


def crm_activity_event(*, customer_id, activity_type, activity_id, occurred_at, actor, subject="", body="",
                       data=None):
    """A note, call, email, meeting or task logged in the CRM, on the customer's timeline as the CRM's
    word (journey steps read these as completion signals). `body` is plain text, cut to
    ACTIVITY_BODY_CHARS; `data` adds what the integration knows (its connection, the CRM's owner)."""
    label = ACTIVITY_LABELS.get(activity_type, activity_type.title())
    said = (subject or body or "").strip().replace("\n", " ")
    return _event(
        customer=customer_id, kind=EventKind.CRM_ACTIVITY, source=EventSource.CRM, actor=actor,
        summary=f"{label} in the CRM" + (f": {said}" if said else ""),
        data={"type": activity_type, "activity_id": activity_id, "subject": subject or "",
              "body": (body or "")[:ACTIVITY_BODY_CHARS], **(data or {})},
        occurred_at=occurred_at,
    )


SYSTEM_SOURCES = {"woocommerce": EventSource.SHOP, "erp": EventSource.ERP, "crm": EventSource.CRM}
SYSTEM_NAMES = {"woocommerce": "the shop", "erp": "the ERP", "crm": "the CRM"}


def source_of(system):
    """The timeline source of what a system (lifecycle.models.System) reports."""
    return SYSTEM_SOURCES.get(system, EventSource.SYSTEM)


def stale_event(*, order, actor, system, observed_at, stored_at):
    """A late version: older than what the system said last, kept out."""
    return _event(
        customer=order.customer_id, order=order, kind=EventKind.STALE_EVENT, source=source_of(system), actor=actor,
        summary=f"Order #{order.number}: an older update from {SYSTEM_NAMES.get(system, system)} arrived late "
                "and was not applied",
        data={"order_id": order.pk, "system": system, "observed_at": observed_at.isoformat(),
              "stored_at": stored_at.isoformat()},
    )


def unmapped_status_event(*, order, raw_status, actor, system):
    """A status nobody mapped: the order keeps its state until a manager maps it."""
    return _event(
        customer=order.customer_id, order=order, kind=EventKind.UNMAPPED_STATUS, source=source_of(system),
        actor=actor,
        summary=f"Order #{order.number}: {SYSTEM_NAMES.get(system, system)}'s status “{raw_status}” has no "
                f"mapping; state kept at {order.state}",
        data={"order_id": order.pk, "system": system, "raw_status": raw_status, "kept_state": order.state},
    )


def same_second_event(*, order, actor, system, raw_status, decided_by, after=None):
    """Two versions of an order dated in the same second: which one was kept, and how that was known
    (`after`: the state the system's stored version meant, which the new one was compared with)."""
    who = SYSTEM_NAMES.get(system, system)
    if decided_by == "states":
        summary = (f"Order #{order.number}: {who} sent two updates in the same second; “{raw_status}” comes "
                   f"after {after or order.state} in the order's life, so it was applied")
    elif decided_by == "refunds":
        summary = (f"Order #{order.number}: {who} sent two updates in the same second; the one with more "
                   f"refunded was applied (refunds only grow)")
    else:
        summary = (f"Order #{order.number}: {who} sent two updates in the same second; “{raw_status}” "
                   f"cannot be shown to be the later one, so the order stays {order.state}")
    return _event(
        customer=order.customer_id, order=order, kind=EventKind.SAME_SECOND,
        source=source_of(system), actor=actor, summary=summary,
        data={"order_id": order.pk, "system": system, "raw_status": raw_status, "applied": decided_by is not None,
              "decided_by": decided_by or "kept what was stored"},
    )


def clock_ahead_event(*, order, actor, system, claimed_at, received_at):
    """A version dated in the future: taken as of when it was received."""
    return _event(
        customer=order.customer_id, order=order, kind=EventKind.CLOCK_AHEAD,
        source=source_of(system), actor=actor,
        summary=(f"Order #{order.number}: {SYSTEM_NAMES.get(system, system)} dated an update "
                 f"{date_format(timezone.localtime(claimed_at), 'SHORT_DATETIME_FORMAT')}, later than it arrived; "
                 "taken as of its arrival"),
        data={"order_id": order.pk, "system": system, "claimed_at": claimed_at.isoformat(),
              "received_at": received_at.isoformat()},
    )




def _exception_event(kind, verb, exception, actor, **data):
    if not exception.customer_id:
        return None  # store-level problems (a sync failure) have no customer timeline
    who = exception.assignee or "the queue"
    return _record(
        customer=exception.customer,
        order=exception.order,
        kind=kind,
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception {verb}: {exception.get_kind_display()} → {who}",
        data={"exception_id": exception.pk, "kind": exception.kind, "assignee_id": exception.assignee_id, **data},
    )


def record_exception_claimed(*, exception, actor):
    return _exception_event(EventKind.EXCEPTION_CLAIMED, "claimed", exception, actor)


def record_exception_released(*, exception, actor):
    return _exception_event(EventKind.EXCEPTION_RELEASED, "released", exception, actor)


def record_exception_assigned(*, exception, actor):
    return _exception_event(EventKind.EXCEPTION_ASSIGNED, "assigned", exception, actor)


def record_exception_reopened(*, exception, actor, previous_status, previous_reason):
    return _record(
        customer=exception.customer,
        order=exception.order,
        kind=EventKind.EXCEPTION_REOPENED,
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception reopened (the condition recurred): {exception.get_kind_display()}: {exception.summary}",
        data={"exception_id": exception.pk, "kind": exception.kind, "subject": exception.subject_key,
              "reopened_count": exception.reopened_count, "previous_status": previous_status,
              "previous_reason": previous_reason, "due_at": exception.due_at.isoformat() if exception.due_at else None},
    )


def build_exception_breached_events(*, breaches, actor, breached_at):
    """Unsaved `exception_breached` events, one per escalated exception that has a customer.

    `breaches` are rows as they are after escalation (id, kind, summary, customer_id, order_id,
    severity, escalated_from_id, due_at: an ExceptionCase or the sweep's row). Exceptions without a
    customer (a store's sync failure) have no timeline. On PostgreSQL the sweep writes the same
    events in SQL (lifecycle/db/timeline.py): keep the two in step; a test compares them.
    """
    source, who = _source_for(actor), actor.as_fields()
    return [
        TimelineEvent(
            customer_id=b.customer_id,
            order_id=b.order_id,
            kind=EventKind.EXCEPTION_BREACHED,
            source=source,
            summary=(f"SLA breached: {ExceptionKind(b.kind).label}: {b.summary}"[:250]
                     + f" → managers' queue, severity {Severity(b.severity).label.lower()}"),
            data={"exception_id": b.id, "kind": b.kind, "severity": b.severity,
                  "escalated_from_id": b.escalated_from_id,
                  "due_at": b.due_at.astimezone(UTC).strftime(_ISO_UTC)},
            occurred_at=breached_at,
            **who,
        )
        for b in breaches
        if b.customer_id is not None
    ]


# Microseconds always written, so that Python's strftime and PostgreSQL's to_char (lifecycle/db/timeline.py)
# agree to the character.
_ISO_UTC = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def exception_breached_insert_sql(*, source, actor, breached_at):
    """The events of build_exception_breached_events as one INSERT … SELECT (PostgreSQL): see
    lifecycle/db/timeline.py. `source` names a row source with the breach columns (the sweep's
    UPDATE … RETURNING, as a CTE). Returns (sql, params); the params are named tl_*.
    """
    return timeline_rows.exception_breached_insert_sql(source=source, actor=actor, event_source=_source_for(actor),
                                                       breached_at=breached_at)
