"""Health's statements, PostgreSQL and SQLite alike: each customer's facts for a batch of customers in
one statement, the scores' rows (created, locked, marked stale), the timeline events the follower
reads, and the customers the churn window has passed.

A batch is a list of customer ids (the nightly run's pages of 5,000, the stale ones, one): every
aggregate is restricted to them and read through the indexes led by the customer, so a batch of one
costs a few index probes and a page of 5,000 the same statements. lifecycle/services/health.py
decides; this module reads and writes what it is told.
"""

import json
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils.dateparse import parse_datetime

from lifecycle.db.sql import col, for_update, literals, marks, table
from lifecycle.models import (
    DEAD_STATES,
    OPEN_STATUSES,
    PAID_STATES,
    Customer,
    ExceptionCase,
    ExceptionKind,
    HealthScore,
    JourneyStep,
    Order,
    OrderSourceState,
    OrderState,
    StepState,
    TimelineEvent,
)

DELIVERED = (OrderState.DELIVERED, OrderState.COMPLETED)
REFUNDED = (OrderState.REFUNDED, OrderState.PARTIALLY_REFUNDED)
# An order that was paid: a paid date, or a state only a payment leads to (an order created paid by a
# system that sent no paid date, a refund). Its payment moment is its paid date, else when it was placed.
WAS_PAID = f"(o.paid_at IS NOT NULL OR o.state IN ({literals([*PAID_STATES, OrderState.REFUNDED])}))"
PAID_MOMENT = "COALESCE(o.paid_at, o.placed_at)"
FACT_COLUMNS = ("customer_id", "stage", "paid_orders", "ever_paid", "refunded", "deliveries_judged",
                "delivered_on_time", "steps_on_time", "steps_late", "steps_missed", "open_exceptions",
                "last_activity_at", "last_paid_at")


def _param(value):
    """A moment as the backend compares it (SQLite: its stored UTC text)."""
    return connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def when(value):
    """A moment as read back: PostgreSQL gives aware datetimes, SQLite the stored UTC text."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return parse_datetime(value).replace(tzinfo=UTC)


def _within_days(later, earlier):
    """SQL: `later` is at most %s days after `earlier` (the days bound as the next parameter)."""
    if connection.vendor == "postgresql":
        return f"{later} <= {earlier} + %s * interval '1 day'"
    return f"julianday({later}) - julianday({earlier}) <= %s"


def _earliest(a, b):
    """The earlier of two moments, either may be NULL (LEAST ignores NULLs only on PostgreSQL)."""
    return f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} <= {b} THEN {a} ELSE {b} END"


def _json_text(column, key):
    if connection.vendor == "postgresql":
        return f"{column} ->> '{key}'"
    return f"json_extract({column}, '$.{key}')"


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, [_param(p) for p in params])
        return cursor.fetchall()


def with_orders_after(after_id, limit):
    """The next `limit` customers with at least one order, by id, after `after_id` (a nightly page)."""
    c, o = table(Customer), table(Order)
    return [row[0] for row in _fetch(
        f"SELECT c.id FROM {c} c WHERE c.id > %s AND EXISTS (SELECT 1 FROM {o} o WHERE "
        f"{col(Order, 'customer', 'o')} = c.id) ORDER BY c.id LIMIT %s", [after_id, limit])]


def ensure_scores(customer_ids):
    """A score row for each customer that has none yet (empty, no score): what lock_scores locks."""
    if not customer_ids:
        return
    h = table(HealthScore)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {h} (customer_id, score, band, components, policy_version, computed_at, stale_since) "
            f"SELECT c.id, NULL, '', '{{}}', 0, NULL, NULL FROM {table(Customer)} c WHERE c.id IN "
            f"({marks(len(customer_ids))}) ON CONFLICT (customer_id) DO NOTHING", list(customer_ids))


def lock_scores(customer_ids):
    """{customer id: (score, band, components, policy version)} of the batch's score rows, locked in
    id order: two recomputes of one customer take turns, so a band change is seen (and written) once."""
    if not customer_ids:
        return {}
    sql = (f"SELECT customer_id, score, band, components, policy_version FROM {table(HealthScore)} "
           f"WHERE customer_id IN ({marks(len(customer_ids))}) ORDER BY customer_id")
    rows = _fetch(for_update(sql), list(customer_ids))
    return {cid: (score, band, json.loads(comp) if isinstance(comp, str) else (comp or {}), version)
            for cid, score, band, comp, version in rows}


def read_facts(customer_ids, *, now, delivery_days, delivered_keys, activity_kinds, ignored_kinds):
    """Each customer's facts (FACT_COLUMNS), for the customers given, in one statement.

    `delivered_keys`: (system, namespace, raw status lookup key) of the source statuses that mean
    delivered or completed ("" namespace: every namespace of the system); with none, only the
    canonical state tells. `activity_kinds`: the timeline kinds that count as activity;
    `ignored_kinds`: the exception kinds not counted.
    """
    if not customer_ids:
        return []
    ids, params = marks(len(customer_ids)), []
    o, ss, js, ex, tl = (table(m) for m in (Order, OrderSourceState, JourneyStep, ExceptionCase, TimelineEvent))
    meaning_cte, source_delivered = "", "NULL"
    if delivered_keys:
        meaning_cte = (f"meaning (system, namespace, raw_key) AS (VALUES "
                       f"{', '.join(['(%s, %s, %s)'] * len(delivered_keys))}), ")
        params += [v for key in delivered_keys for v in key]
        source_delivered = (
            f"(SELECT MIN(ss.observed_at) FROM {ss} ss JOIN meaning m ON m.system = ss.system "
            f"AND m.raw_key = LOWER(TRIM(ss.raw_status)) AND (m.namespace = '' OR m.namespace = o.namespace) "
            f"WHERE ss.order_id = o.id)")
    state_delivered = f"CASE WHEN o.state IN ({literals(DELIVERED)}) THEN o.state_changed_at END"
    sql = f"""
        WITH {meaning_cte}
        orders_of AS (
            SELECT o.customer_id,
                   SUM(CASE WHEN o.state IN ({literals(PAID_STATES)}) THEN 1 ELSE 0 END) AS paid,
                   SUM(CASE WHEN {WAS_PAID} THEN 1 ELSE 0 END) AS ever_paid,
                   SUM(CASE WHEN {WAS_PAID} AND (o.state IN ({literals(REFUNDED)})
                            OR o.refunded_total > 0) THEN 1 ELSE 0 END) AS refunded,
                   MAX(CASE WHEN {WAS_PAID} THEN {PAID_MOMENT} END) AS last_paid_at
              FROM {o} o WHERE o.customer_id IN ({ids}) GROUP BY o.customer_id),
        deliveries AS (
            SELECT d.customer_id,
                   SUM(CASE WHEN d.delivered_at IS NOT NULL OR (d.paid_at < %s
                            AND d.state NOT IN ({literals(DEAD_STATES)})) THEN 1 ELSE 0 END) AS judged,
                   SUM(CASE WHEN d.delivered_at IS NOT NULL AND {_within_days('d.delivered_at', 'd.paid_at')}
                            THEN 1 ELSE 0 END) AS on_time
              FROM (SELECT o.customer_id, {PAID_MOMENT} AS paid_at, o.state,
                           {_earliest(state_delivered, source_delivered)} AS delivered_at
                      FROM {o} o WHERE o.customer_id IN ({ids}) AND {WAS_PAID}) d
             GROUP BY d.customer_id),
        steps AS (
            SELECT js.customer_id,
                   SUM(CASE WHEN js.state = '{StepState.DONE}' THEN 1 ELSE 0 END) AS on_time,
                   SUM(CASE WHEN js.state = '{StepState.LATE}' THEN 1 ELSE 0 END) AS late,
                   SUM(CASE WHEN js.state = '{StepState.MISSED}' THEN 1 ELSE 0 END) AS missed
              FROM {js} js
             WHERE js.customer_id IN ({ids})
               AND js.state IN ({literals([StepState.DONE, StepState.LATE, StepState.MISSED])})
             GROUP BY js.customer_id),
        problems AS (
            SELECT e.customer_id, COUNT(*) AS n FROM {ex} e
             WHERE e.customer_id IN ({ids}) AND e.status IN ({literals(OPEN_STATUSES)})
               AND e.kind NOT IN ({literals(ignored_kinds)})
             GROUP BY e.customer_id)
        SELECT c.id, c.stage, COALESCE(oo.paid, 0), COALESCE(oo.ever_paid, 0), COALESCE(oo.refunded, 0),
               COALESCE(dd.judged, 0), COALESCE(dd.on_time, 0), COALESCE(st.on_time, 0), COALESCE(st.late, 0),
               COALESCE(st.missed, 0), COALESCE(pr.n, 0),
               (SELECT t.occurred_at FROM {tl} t WHERE t.customer_id = c.id AND t.kind IN ({literals(activity_kinds)})
                 ORDER BY t.occurred_at DESC LIMIT 1),
               oo.last_paid_at
          FROM {table(Customer)} c
          LEFT JOIN orders_of oo ON oo.customer_id = c.id
          LEFT JOIN deliveries dd ON dd.customer_id = c.id
          LEFT JOIN steps st ON st.customer_id = c.id
          LEFT JOIN problems pr ON pr.customer_id = c.id
         WHERE c.id IN ({ids})
         ORDER BY c.id"""
    ids_list = list(customer_ids)
    params += ids_list + [now - timedelta(days=delivery_days), delivery_days] + ids_list * 4
    return [row[:11] + (when(row[11]), when(row[12])) for row in _fetch(sql, params)]


def mark_stale(customer_ids, now):
    """Mark the scores of these customers stale (those with an order: the others have no score),
    creating the rows of customers scored for the first time. Returns how many were marked."""
    if not customer_ids:
        return 0
    h, o = table(HealthScore), table(Order)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {h} (customer_id, score, band, components, policy_version, computed_at, stale_since) "
            f"SELECT c.id, NULL, '', '{{}}', 0, NULL, %s FROM {table(Customer)} c "
            f"WHERE c.id IN ({marks(len(customer_ids))}) AND EXISTS (SELECT 1 FROM {o} o WHERE o.customer_id = c.id) "
            f"ON CONFLICT (customer_id) DO UPDATE SET stale_since = COALESCE({h}.stale_since, excluded.stale_since)",
            [_param(now), *customer_ids])
        return cursor.rowcount


def stale_customers(limit):
    """Up to `limit` customers whose score is stale, longest waiting first."""
    h = table(HealthScore)
    return [row[0] for row in _fetch(
        f"SELECT customer_id FROM {h} WHERE stale_since IS NOT NULL ORDER BY stale_since, customer_id LIMIT %s",
        [limit])]


def _events(where, params, limit=""):
    t = table(TimelineEvent)
    return _fetch(f"SELECT t.id, t.customer_id, t.kind, t.order_id, {_json_text('t.data', 'to')} FROM {t} t "
                  f"WHERE {where} ORDER BY t.id{limit}", params)


def events_after(last_id, limit):
    """The first `limit` timeline events with an id above `last_id`, by id: (id, customer id, kind,
    order id, the state an order moved to or None)."""
    return _events("t.id > %s", [last_id, limit], " LIMIT %s")


def events_in(ranges):
    """The timeline events whose ids fall in the [first, last] `ranges` (ids read again), by id."""
    if not ranges:
        return []
    return _events(" OR ".join(["t.id BETWEEN %s AND %s"] * len(ranges)), [v for pair in ranges for v in pair])


def last_event_id():
    rows = _fetch(f"SELECT MAX(id) FROM {table(TimelineEvent)}", [])
    return rows[0][0] or 0


def critical_past_due(customer_ids, now, severity):
    """{customer id: (kind, summary, due at)} of the most overdue open exception of at least
    `severity` past its due time, for the customers given (`at_risk` itself left out)."""
    if not customer_ids:
        return {}
    e = table(ExceptionCase)
    rows = _fetch(
        f"SELECT customer_id, kind, summary, due_at FROM {e} WHERE customer_id IN ({marks(len(customer_ids))}) "
        f"AND status IN ({literals(OPEN_STATUSES)}) AND severity >= %s AND due_at < %s "
        f"AND kind <> '{ExceptionKind.AT_RISK}' ORDER BY customer_id, due_at DESC",
        [*customer_ids, severity, now])
    return {cid: (kind, summary, when(due)) for cid, kind, summary, due in rows}


def churn_candidates(*, cutoff, stages, activity_kinds, after_id, limit):
    """Customers in `stages` (by id after `after_id`, at most `limit`) with no order paid and no
    activity since `cutoff`: (id, last paid at, last activity at). Reads the customers by stage, each
    one's newest paid order and newest activity by the indexes led by the customer."""
    c, o, t = table(Customer), table(Order), table(TimelineEvent)
    sql = f"""
        SELECT x.id, x.last_paid, x.last_activity FROM (
            SELECT c.id,
                   (SELECT MAX({PAID_MOMENT}) FROM {o} o WHERE o.customer_id = c.id AND {WAS_PAID}) AS last_paid,
                   (SELECT t.occurred_at FROM {t} t WHERE t.customer_id = c.id AND t.kind IN ({literals(activity_kinds)})
                     ORDER BY t.occurred_at DESC LIMIT 1) AS last_activity
              FROM {c} c WHERE c.stage IN ({literals(stages)}) AND c.id > %s) x
         WHERE (x.last_paid IS NULL OR x.last_paid < %s) AND (x.last_activity IS NULL OR x.last_activity < %s)
         ORDER BY x.id LIMIT %s"""
    return [(cid, when(paid), when(active)) for cid, paid, active in _fetch(sql, [after_id, cutoff, cutoff, limit])]
