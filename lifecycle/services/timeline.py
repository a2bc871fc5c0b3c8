"""One builder per timeline event kind, so every event of a kind has one shape.

Builders only insert; callers run them inside the transaction of the change they describe, so a
change and its event are written together or not at all.
"""

from django.utils import timezone

from lifecycle.models import EventSource, TimelineEvent


def _record(*, customer, kind, source, actor, summary, order=None, data=None, occurred_at=None):
    return TimelineEvent.objects.create(
        customer=customer,
        order=order,
        kind=kind,
        source=source,
        summary=summary[:300],
        data=data or {},
        occurred_at=occurred_at or timezone.now(),
        **actor.as_fields(),
    )


def _source_for(actor):
    return EventSource.CONSOLE if actor.is_user else EventSource.SYSTEM


def record_customer_created(*, customer, actor, source=None):
    return _record(
        customer=customer,
        kind="customer_created",
        source=source or _source_for(actor),
        actor=actor,
        summary=f"Customer {customer} created",
        data={"email": customer.email},
    )


def record_identity_linked(*, identity, actor, source=None):
    return _record(
        customer=identity.customer,
        kind="identity_linked",
        source=source or _source_for(actor),
        actor=actor,
        summary=f"Linked {identity}",
        data={"kind": identity.kind, "namespace": identity.namespace, "value": identity.value},
    )


def record_handoff(*, handoff, actor):
    from_owner = f"{handoff.from_team} / {handoff.from_agent or 'unassigned'}" if handoff.from_team else "nobody"
    to_owner = f"{handoff.to_team} / {handoff.to_agent or 'unassigned'}"
    return _record(
        customer=handoff.customer,
        kind="handoff",
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


def record_stage_changed(*, customer, from_stage, to_stage, transition, reason, actor):
    summary = f"Stage {from_stage} → {to_stage}" + (f": {reason}" if reason else "")
    return _record(
        customer=customer,
        kind="stage_changed",
        source=_source_for(actor),
        actor=actor,
        summary=summary,
        data={"from": from_stage, "to": to_stage, "transition": transition, "reason": reason},
    )


def record_order_created(*, order, actor, source=EventSource.SHOP):
    return _record(
        customer=order.customer,
        order=order,
        kind="order_created",
        source=source,
        actor=actor,
        summary=f"Order #{order.number} placed: {order.total} {order.currency}, {order.get_state_display()}",
        data={"order_id": order.pk, "state": order.state, "total": str(order.total), "currency": order.currency},
        occurred_at=order.placed_at,
    )


def record_order_state_changed(*, order, from_state, to_state, actor, source=EventSource.SHOP, raw_status=""):
    return _record(
        customer=order.customer,
        order=order,
        kind="order_state_changed",
        source=source,
        actor=actor,
        summary=f"Order #{order.number} {from_state} → {to_state}" + (f" (raw: {raw_status})" if raw_status else ""),
        data={"order_id": order.pk, "from": from_state, "to": to_state, "raw_status": raw_status},
    )


def record_exception_opened(*, exception, actor):
    return _record(
        customer=exception.customer,
        order=exception.order,
        kind="exception_opened",
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception opened: {exception.get_kind_display()}: {exception.summary}",
        data={"exception_id": exception.pk, "kind": exception.kind, "subject": exception.subject_key},
    )


def record_exception_resolved(*, exception, actor):
    return _record(
        customer=exception.customer,
        order=exception.order,
        kind="exception_resolved",
        source=_source_for(actor),
        actor=actor,
        summary=f"Exception resolved: {exception.get_kind_display()}: {exception.resolution_reason}",
        data={"exception_id": exception.pk, "kind": exception.kind, "reason": exception.resolution_reason},
    )


def record_stale_event(*, order, actor, observed_at, stored_at):
    return _record(
        customer=order.customer,
        order=order,
        kind="stale_event",
        source=EventSource.SHOP,
        actor=actor,
        summary=f"Order #{order.number}: an older update arrived late and was not applied",
        data={"order_id": order.pk, "observed_at": observed_at.isoformat(), "stored_at": stored_at.isoformat()},
    )


def record_unmapped_status(*, order, raw_status, actor):
    return _record(
        customer=order.customer,
        order=order,
        kind="unmapped_status",
        source=EventSource.SHOP,
        actor=actor,
        summary=f"Order #{order.number}: shop status “{raw_status}” has no mapping; state kept at {order.state}",
        data={"order_id": order.pk, "raw_status": raw_status, "kept_state": order.state},
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
    return _exception_event("exception_claimed", "claimed", exception, actor)


def record_exception_released(*, exception, actor):
    return _exception_event("exception_released", "released", exception, actor)


def record_exception_assigned(*, exception, actor):
    return _exception_event("exception_assigned", "assigned", exception, actor)
