"""Timeline rows written in SQL (PostgreSQL): the SLA sweep's `exception_breached` events, and the
`exception_resolved` events of exceptions resolved set-based."""

import json

from django.db import connection

from lifecycle.db.sql import table
from lifecycle.models import EventKind, ExceptionKind, Severity, TimelineEvent


def exception_breached_insert_sql(*, source, actor, event_source, breached_at):
    """The events lifecycle.services.timeline.build_exception_breached_events builds, as one
    INSERT … SELECT (PostgreSQL); keep the two in step (a test compares them).

    `source` names a row source with the breach columns (the sweep's UPDATE … RETURNING, as a CTE),
    so a sweep of 100,000 breaches writes its events in the same statement instead of building
    100,000 objects in Python. `event_source` is the events' source. Returns (sql, params); the
    params are named tl_*.
    """
    who = actor.as_fields()
    sql = f"""
        INSERT INTO {table(TimelineEvent)}
            (actor_kind, actor_user_id, actor_ref, customer_id, order_id, kind, source, summary, data, occurred_at)
        SELECT %(tl_actor_kind)s, %(tl_actor_user)s, %(tl_actor_ref)s, b.customer_id, b.order_id,
               '{EventKind.EXCEPTION_BREACHED.value}', %(tl_source)s,
               left('SLA breached: ' || (%(tl_kinds)s::jsonb ->> b.kind) || ': ' || b.summary, 250)
                   || ' → managers'' queue, severity ' || (%(tl_severities)s::jsonb ->> b.severity::text),
               jsonb_build_object('exception_id', b.id, 'kind', b.kind, 'severity', b.severity,
                                  'escalated_from_id', b.escalated_from_id,
                                  'due_at', to_char(b.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')),
               %(tl_occurred_at)s
          FROM {source} b
         WHERE b.customer_id IS NOT NULL"""
    params = {
        "tl_actor_kind": who["actor_kind"], "tl_actor_ref": who["actor_ref"],
        "tl_actor_user": who["actor_user"].pk if who["actor_user"] else None,
        "tl_source": event_source, "tl_occurred_at": breached_at,
        "tl_kinds": json.dumps({value: str(label) for value, label in ExceptionKind.choices}),
        "tl_severities": json.dumps({str(value): str(label).lower() for value, label in Severity.choices}),
    }
    return sql, params


def exception_resolved_insert_sql(*, source, actor, event_source, first):
    """The events lifecycle.services.timeline.exception_resolved_event builds, as one INSERT … SELECT
    (PostgreSQL); keep the two in step (a test compares them).

    `source` names a row source with the closed exceptions' id, kind, customer_id, order_id, reason
    and closed_at (the resolving UPDATE … RETURNING, as a CTE). The statement binds positional
    parameters on the server: this part's are $first … $first+4. Returns (sql, params).
    """
    who = actor.as_fields()
    user_type = TimelineEvent._meta.get_field("actor_user").db_type(connection)
    n = [f"${first + i}" for i in range(5)]
    sql = f"""
        INSERT INTO {table(TimelineEvent)}
            (actor_kind, actor_user_id, actor_ref, customer_id, order_id, kind, source, summary, data, occurred_at)
        SELECT {n[0]}::text, {n[1]}::{user_type}, {n[2]}::text, c.customer_id, c.order_id,
               '{EventKind.EXCEPTION_RESOLVED.value}', {n[3]}::text,
               left('Exception resolved: ' || ({n[4]}::jsonb ->> c.kind) || ': ' || c.reason, 300),
               jsonb_build_object('exception_id', c.id, 'kind', c.kind, 'reason', c.reason), c.closed_at
          FROM {source} c
         WHERE c.customer_id IS NOT NULL"""
    params = [who["actor_kind"], who["actor_user"].pk if who["actor_user"] else None, who["actor_ref"],
              event_source, json.dumps({value: str(label) for value, label in ExceptionKind.choices})]
    return sql, params
