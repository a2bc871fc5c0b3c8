"""Exception rows as a raise and the SLA sweep write them.

A batch of raises: count one more occurrence on each open (kind, subject) exception, and read what
opening each of the others needs, in one statement (PostgreSQL). The sweep: escalate every open exception past due, and write its timeline events, in one
statement (PostgreSQL).

These run through `rows.cursor()` (parameters bound on the server, statements prepared once hot):
the statuses are written as literals, so the prepared (generic) plan can use the open-only indexes,
whose conditions name them.
"""

import functools
import json
from collections import namedtuple

from django.db import connection
from django.utils import timezone

from lifecycle.db import rows
from lifecycle.db.sql import literals, table
from lifecycle.models import CLOSED_STATUSES, OPEN_STATUSES, ExceptionCase, ExceptionStatus, Ownership, Severity

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
# PostgreSQL: one statement refreshes every (kind, subject) of a batch that is open (a repeat is then
# done, in one round trip however many) and reads, for each of the others, the facts an opening needs
# (the subqueries see the table as it was before the UPDATE). Rows come back in the batch's order.
# Each subject's open exception is looked up on its own (a lateral join, by the one-open-per-subject
# index): joined to the batch as a whole, the planner read every open exception of the kind per call.
# The batch's columns are named v_* so that they never shadow the exception's own in SET or RETURNING.
REFRESH_OR_FACTS_MANY = """WITH v AS (
        SELECT * FROM unnest(%(subjects)s::text[], %(summaries)s::text[], %(evidences)s::text[],
                             %(severities)s::integer[], %(customers)s::bigint[])
                      WITH ORDINALITY AS v(v_subject, v_summary, v_evidence, v_severity, v_customer, v_n)),
    target AS (
        SELECT e.v_id, v.v_summary, v.v_evidence, v.v_severity
          FROM v CROSS JOIN LATERAL (SELECT id AS v_id FROM {exception}
                                      WHERE kind = %(kind)s AND subject_key = v.v_subject AND status IN ({open})) e),
    refreshed AS (
        UPDATE {exception}
           SET evidence = t.v_evidence::jsonb, summary = t.v_summary, occurrences = occurrences + 1,
               updated_at = %(now)s, severity = CASE WHEN severity < t.v_severity THEN t.v_severity ELSE severity END
          FROM target t
         WHERE id = t.v_id
     RETURNING {columns})
    SELECT refreshed.*,
           (SELECT team_id FROM {ownership} WHERE customer_id = v.v_customer),
           EXISTS (SELECT 1 FROM {exception} WHERE kind = %(kind)s AND subject_key = v.v_subject
                                                AND status IN ({closed})),
           CASE WHEN refreshed.id IS NULL THEN {next_id} END
      FROM v LEFT JOIN refreshed ON refreshed.subject_key = v.v_subject
     ORDER BY v.v_n"""
# Elsewhere: whether it is open, and the facts; a refresh follows when it is.
OPEN_AND_FACTS = """SELECT EXISTS (SELECT 1 FROM {exception} WHERE kind = %(kind)s AND subject_key = %(subject)s
                                         AND status IN ({open})),
           {facts}"""
Facts = namedtuple("Facts", "owner_team has_closed new_id")


@functools.cache
def _sql(template):
    names = {"ownership": table(Ownership), "exception": table(ExceptionCase),
             "open": literals(OPEN_STATUSES), "closed": literals(CLOSED_STATUSES),
             "next_id": rows.next_id_sql(ExceptionCase), "columns": rows.columns(ExceptionCase)}
    names |= {"facts": FACTS.format(**names), "refresh": REFRESH.format(**names)}
    return template.format(**names)


def _refresh_params(kind, subject_key, summary, evidence, severity, now=None):
    field = ExceptionCase._meta.get_field  # values prepared as the ORM would store them (JSON, times)
    return {"kind": kind, "subject": subject_key, "summary": summary, "severity": severity or 0,
            "now": field("updated_at").get_db_prep_save(now or timezone.now(), connection),
            "evidence": field("evidence").get_db_prep_save(evidence, connection)}


def refresh_or_facts_many(kind, items, now):
    """For each (subject, summary, evidence, severity, customer id) of `items` (distinct subjects):
    (the refreshed open exception or None, Facts for opening it), in order. One statement on
    PostgreSQL, whatever the batch's size; elsewhere two or three per item. `customer id` is None
    where the kind is not routed to the owner team (no lookup)."""
    if connection.vendor != rows.ALLOCATES_IDS:
        return [_refresh_or_facts_one(kind, *item, now) for item in items]
    field = ExceptionCase._meta.get_field("evidence")
    params = {"kind": kind, "now": ExceptionCase._meta.get_field("updated_at").get_db_prep_save(now, connection),
              "subjects": [i[0] for i in items], "summaries": [i[1] for i in items],
              "evidences": [json.dumps(i[2], cls=field.encoder) for i in items],
              "severities": [i[3] or 0 for i in items], "customers": [i[4] for i in items]}
    found = []
    with rows.cursor() as cursor:
        cursor.execute(_sql(REFRESH_OR_FACTS_MANY), params)
        for *refreshed, owner_team, has_closed, new_id in cursor.fetchall():
            current = rows.from_row(ExceptionCase, refreshed) if refreshed[0] is not None else None
            found.append((current, Facts(owner_team, has_closed, new_id)))
    return found


def _refresh_or_facts_one(kind, subject_key, summary, evidence, severity, customer_id, now):
    with rows.cursor() as cursor:
        cursor.execute(_sql(OPEN_AND_FACTS), _refresh_params(kind, subject_key, summary, evidence, severity, now)
                       | {"customer": customer_id})
        is_open, *facts = cursor.fetchone()
    # Closed since we looked (None): opened again by the caller.
    current = refresh_open(kind, subject_key, summary, evidence, severity) if is_open else None
    return current, Facts(*facts)


def refresh_open(kind, subject_key, summary, evidence, severity):
    """Count one more occurrence on the open (kind, subject) exception; None when none is open."""
    with rows.cursor() as cursor:
        cursor.execute(_sql(REFRESH), _refresh_params(kind, subject_key, summary, evidence, severity))
        row = cursor.fetchone()
    return rows.from_row(ExceptionCase, row) if row else None


# The row source the sweep's escalated rows are read from by its events' INSERT … SELECT.
ESCALATED = "breached"


def escalate_due(now, insert_events):
    """PostgreSQL: escalate every open, not yet breached exception due by `now` (breached_at = now,
    severity one step up, at most critical, moved to the managers' queue, remembering the team queue
    it left), and run `insert_events` ((sql, params): an INSERT … SELECT from ESCALATED, the escalated
    rows' id, kind, summary, customer_id, order_id, severity, escalated_from_id and due_at), in one
    statement: UPDATE … RETURNING feeds the INSERT. Returns how many were escalated.

    The UPDATE scans the partial due-time index (open, not breached); the events never come back
    to Python, which for 100,000 breaches is the difference between seconds and tens of seconds.
    """
    insert_sql, params = insert_events
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH {ESCALATED} AS (
                UPDATE {table(ExceptionCase)}
                   SET breached_at = %(now)s, updated_at = %(now)s,
                       severity = LEAST(severity + 1, %(top)s),
                       escalated_from_id = COALESCE(queue_id, escalated_from_id),
                       queue_id = NULL
                 WHERE status IN ({literals(OPEN_STATUSES)}) AND breached_at IS NULL AND due_at <= %(now)s
                RETURNING id, kind, summary, customer_id, order_id, severity, escalated_from_id, due_at
            ), events AS ({insert_sql} RETURNING 1)
            SELECT (SELECT count(*) FROM {ESCALATED}), (SELECT count(*) FROM events)
            """,
            params | {"now": now, "top": int(Severity.CRITICAL)},
        )
        breached, _events = cursor.fetchone()
    return breached


# An exception closed because its condition cleared, as the resolving UPDATE returns it.
Resolved = namedtuple("Resolved", "id kind subject_key customer_id order_id assignee_id resolution_reason")
_RESOLVE_CHUNK = 5_000  # subjects per statement: 10,000 parameters, under every backend's limit
RESOLVE = """UPDATE {exception}
       SET status = %s, resolution_reason = v.reason, closed_at = %s, updated_at = %s
      FROM (SELECT column1 AS subject, column2 AS reason FROM (VALUES <values>) AS given) AS v
     WHERE {exception}.kind = %s AND {exception}.subject_key = v.subject AND {exception}.status IN ({open})
 RETURNING {exception}.id, {exception}.kind, {exception}.subject_key, {exception}.customer_id,
           {exception}.order_id, {exception}.assignee_id"""


# PostgreSQL: the subjects and reasons travel as two arrays, bound on the server (a statement of five
# parameters however many close, which psycopg passes on without parsing), and the timeline events
# are written by the same statement from what the UPDATE returns.
CLOSED = "closed"
RESOLVE_ARRAYS = """WITH {closed} AS (
    UPDATE {exception}
       SET status = $1, resolution_reason = v.reason, closed_at = $2, updated_at = $2
      FROM unnest($3::text[], $4::text[]) AS v (subject, reason)
     WHERE {exception}.kind = $5 AND {exception}.subject_key = v.subject AND {exception}.status IN ({open})
 RETURNING {exception}.id, {exception}.kind, {exception}.subject_key, {exception}.customer_id,
           {exception}.order_id, {exception}.assignee_id, v.reason, {exception}.closed_at
), events AS (<events> RETURNING 1)
SELECT id, kind, subject_key, customer_id, order_id, assignee_id FROM {closed}"""
EVENTS_FIRST_PARAM = 6  # the events' parameters follow the UPDATE's five


def resolve_open(kind, reasons, now, insert_events=None):
    """Close the open `kind` exceptions whose subjects are the keys of `reasons` ({subject: why}),
    as resolved at `now`: one UPDATE per 5,000 (it locks what it closes, so two resolvers never
    close one twice), and no model loaded. Returns a Resolved row per exception closed.

    On PostgreSQL `insert_events` ((sql, params): an INSERT … SELECT from CLOSED whose parameters
    start at EVENTS_FIRST_PARAM) writes their timeline events in the same statement; elsewhere the
    caller writes them from the rows returned."""
    resolved, items = [], sorted(reasons.items())
    when = ExceptionCase._meta.get_field("closed_at").get_db_prep_save(now, connection)
    if connection.vendor == rows.ALLOCATES_IDS:
        events_sql, events_params = insert_events
        with rows.cursor(native=True) as cursor:
            cursor.execute(_sql(RESOLVE_ARRAYS.replace("{closed}", CLOSED)).replace("<events>", events_sql),
                           [str(ExceptionStatus.RESOLVED), when, [s for s, _ in items], [r for _, r in items],
                            str(kind), *events_params])
            return [Resolved(*row, reasons[row[2]]) for row in cursor.fetchall()]
    for start in range(0, len(items), _RESOLVE_CHUNK):
        chunk = items[start:start + _RESOLVE_CHUNK]
        sql = _sql(RESOLVE).replace("<values>", ", ".join(["(%s, %s)"] * len(chunk)))
        with connection.cursor() as cursor:
            cursor.execute(sql, [str(ExceptionStatus.RESOLVED), when, when, *(v for pair in chunk for v in pair),
                                 kind])
            # (SQLite's RETURNING may not name the FROM clause's reason: it is read back here.)
            resolved.extend(Resolved(*row, reasons[row[2]]) for row in cursor.fetchall())
    return resolved
