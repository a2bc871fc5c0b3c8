"""Health's statements, PostgreSQL and SQLite alike: each customer's facts for a batch of customers in
one statement, the recompute lock, the nightly's pages, and the scores marked stale or waiting
(lifecycle/db/health_events.py holds the follower's and the churn sweep's reads).

A batch is a list of customer ids (the nightly run's pages of 5,000, the stale ones, one): every
aggregate is restricted to them and read through the indexes led by the customer, so a batch of one
costs a few index probes and a page of 5,000 the same statements. lifecycle/db/health_score.py
scores the facts read here in the same statement; lifecycle/services/health.py decides what to read
and what follows.
"""

import json
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils.dateparse import parse_datetime

from lifecycle.db import rows
from lifecycle.db.sql import col, literals, table
from lifecycle.models import (
    DEAD_STATES,
    OPEN_STATUSES,
    PAID_STATES,
    Customer,
    ExceptionCase,
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
FACT_COLUMNS = ("customer_id", "paid_orders", "ever_paid", "refunded", "judged", "delivered_on_time",
                "steps_on_time", "steps_late", "steps_missed", "open_exceptions", "days_idle")


def _param(value):
    """A moment as the backend compares it (SQLite: its stored UTC text)."""
    return connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def when(value):
    """A moment as read back: PostgreSQL gives aware datetimes, SQLite the stored UTC text."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return parse_datetime(value).replace(tzinfo=UTC)


def _within_days(later, earlier, days):
    """SQL: `later` is at most `days` (a whole number of the policy's) days after `earlier`."""
    if connection.vendor == "postgresql":
        return f"{later} <= {earlier} + interval '{int(days)} days'"
    return f"julianday({later}) - julianday({earlier}) <= {int(days)}"


def _earliest(a, b):
    """The earlier of two moments, either may be NULL (LEAST ignores NULLs only on PostgreSQL)."""
    return f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} <= {b} THEN {a} ELSE {b} END"


def json_text(column, key):
    if connection.vendor == "postgresql":
        return f"{column} ->> '{key}'"
    return f"json_extract({column}, '$.{key}')"


def fetch(sql, params, *, few=False):
    """The rows of one statement, through Django's cursor: parameters bound on the client, since these
    statements read a page of customers, and a plan PostgreSQL prepared once for any page (generic)
    took minutes where one made for the page's own values takes a fraction of a second. `few`: a
    batch of a few customers, run again and again (the follower's): bound on the server, where
    psycopg prepares it after a few runs and PostgreSQL plans it once (planning was most of its cost)."""
    with rows.cursor() if few else connection.cursor() as cursor:
        cursor.execute(sql, [_param(p) for p in params])
        return cursor.fetchall()


def execute(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, [_param(p) for p in params])


def _among(column, ids):
    """(SQL, params): `column` is one of `ids`, bound as one parameter however many (a list of 5,000
    placeholders cost more to send and parse than the statement took to run)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(ids))]


def _json_path(column, *keys):
    if connection.vendor == "postgresql":
        return f"{column} #>> '{{{','.join(keys)}}}'"
    return f"json_extract({column}, '$.{'.'.join(keys)}')"


# One recompute at a time, a page at a time: the nightly run and the follower's take turns, so a band
# change is seen (and written, and acted on) once. A key of its own among PostgreSQL's advisory locks.
RECOMPUTE_LOCK = 0x4845414C5448  # "HEALTH"


def recompute_lock():
    """Wait for the other recomputes' pages (held to the end of the caller's transaction); SQLite
    serialises writers by itself."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RECOMPUTE_LOCK])


def with_orders_after(after_id, limit):
    """The next `limit` customers with at least one order, by id, after `after_id` (a nightly page)."""
    c, o = table(Customer), table(Order)
    return [row[0] for row in fetch(
        f"SELECT c.id FROM {c} c WHERE c.id > %s AND EXISTS (SELECT 1 FROM {o} o WHERE "
        f"{col(Order, 'customer', 'o')} = c.id) ORDER BY c.id LIMIT %s", [after_id, limit])]


def facts_sql(customer_ids, *, now, delivery_days, delivered_keys, activity_kinds, ignored_kinds):
    """(SQL, params): CTEs ending in `facts`, one row per customer given (FACT_COLUMNS, then its stored
    score, band and repeat orders as the last recompute left them: None without one), for a statement
    that goes on from them (lifecycle/db/health_score.py scores them).

    `delivered_keys`: (system, namespace, raw status lookup key) of the source statuses that mean
    delivered or completed ("" namespace: every namespace of the system); with none, only the
    canonical state tells. `activity_kinds`: the timeline kinds that count as activity;
    `ignored_kinds`: the exception kinds not counted.
    """
    ids_list, params = sorted(customer_ids), []
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
    # Another system's word can only make a delivery earlier: an order on time by its canonical state
    # needs no look at its source states (most of them; each look is an index probe).
    on_time_by_state = (f"o.state IN ({literals(DELIVERED)}) AND "
                        f"{_within_days('o.state_changed_at', PAID_MOMENT, delivery_days)}")
    # The batch's id range beside its list: a nightly page is a range, read by the customer-led
    # indexes; a list alone of 5,000 ids made PostgreSQL scan every order.
    among, among_params = _among("o.customer_id", ids_list)
    within, batch = f"{among} AND o.customer_id BETWEEN %s AND %s", [*among_params, ids_list[0], ids_list[-1]]
    # PostgreSQL would pull the source-state lookup up into every place the delivery moment is used
    # (four subplans per order), and each fact into every place the scoring uses it: OFFSET 0 and a
    # materialized `facts` keep each computed once.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    sql = f"""
        WITH {meaning_cte}
        orders_of AS (
            SELECT o.customer_id,
                   SUM(CASE WHEN o.state IN ({literals(PAID_STATES)}) THEN 1 ELSE 0 END) AS paid,
                   SUM(CASE WHEN {WAS_PAID} THEN 1 ELSE 0 END) AS ever_paid,
                   SUM(CASE WHEN {WAS_PAID} AND (o.state IN ({literals(REFUNDED)})
                            OR o.refunded_total > 0) THEN 1 ELSE 0 END) AS refunded
              FROM {o} o WHERE {within} GROUP BY o.customer_id),
        deliveries AS (
            SELECT d.customer_id,
                   SUM(CASE WHEN d.delivered_at IS NOT NULL OR (d.paid_at < %s
                            AND d.state NOT IN ({literals(DEAD_STATES)})) THEN 1 ELSE 0 END) AS judged,
                   SUM(CASE WHEN d.delivered_at IS NOT NULL AND {_within_days('d.delivered_at', 'd.paid_at', delivery_days)}
                            THEN 1 ELSE 0 END) AS on_time
              FROM (SELECT x.customer_id, x.paid_at, x.state, {_earliest('x.by_state', 'x.by_source')} AS delivered_at
                      FROM (SELECT o.customer_id, {PAID_MOMENT} AS paid_at, o.state, {state_delivered} AS by_state,
                                   CASE WHEN {on_time_by_state} THEN NULL ELSE {source_delivered} END AS by_source
                              FROM {o} o WHERE {within} AND {WAS_PAID}{fence}) x) d
             GROUP BY d.customer_id),
        steps AS (
            SELECT js.customer_id,
                   SUM(CASE WHEN js.state = '{StepState.DONE}' THEN 1 ELSE 0 END) AS on_time,
                   SUM(CASE WHEN js.state = '{StepState.LATE}' THEN 1 ELSE 0 END) AS late,
                   SUM(CASE WHEN js.state = '{StepState.MISSED}' THEN 1 ELSE 0 END) AS missed
              FROM {js} js
             WHERE {within.replace('o.', 'js.')}
               AND js.state IN ({literals([StepState.DONE, StepState.LATE, StepState.MISSED])})
             GROUP BY js.customer_id),
        problems AS (
            SELECT e.customer_id, COUNT(*) AS n FROM {ex} e
             WHERE {within.replace('o.', 'e.')} AND e.status IN ({literals(OPEN_STATUSES)})
               AND e.kind NOT IN ({literals(ignored_kinds)})
             GROUP BY e.customer_id),
        facts AS {materialized}(
            SELECT c.id AS customer_id, COALESCE(oo.paid, 0) AS paid_orders, COALESCE(oo.ever_paid, 0) AS ever_paid,
                   COALESCE(oo.refunded, 0) AS refunded, COALESCE(dd.judged, 0) AS judged,
                   COALESCE(dd.on_time, 0) AS delivered_on_time, COALESCE(st.on_time, 0) AS steps_on_time,
                   COALESCE(st.late, 0) AS steps_late, COALESCE(st.missed, 0) AS steps_missed,
                   COALESCE(pr.n, 0) AS open_exceptions,
                   {_days_since('(SELECT t.occurred_at FROM ' + tl + ' t WHERE t.customer_id = c.id AND t.kind IN ('
                                + literals(activity_kinds) + ') ORDER BY t.occurred_at DESC LIMIT 1)')} AS days_idle,
                   h.score AS old_score, COALESCE(h.band, '') AS old_band,
                   CAST({_json_path('h.components', 'repeat_orders', 'value')} AS INTEGER) AS old_repeat
              FROM {table(Customer)} c
              LEFT JOIN {table(HealthScore)} h ON h.customer_id = c.id
              LEFT JOIN orders_of oo ON oo.customer_id = c.id
              LEFT JOIN deliveries dd ON dd.customer_id = c.id
              LEFT JOIN steps st ON st.customer_id = c.id
              LEFT JOIN problems pr ON pr.customer_id = c.id
             WHERE {within.replace('o.customer_id', 'c.id')})"""
    params += batch + [now - timedelta(days=delivery_days)] + batch * 3 + [now] + batch
    return sql, params


def _days_since(moment):
    """SQL: whole days from `moment` to the moment bound as the next parameter (NULL stays NULL); as
    a number, so 200,000 moments are not each read back as a datetime."""
    if connection.vendor == "postgresql":
        return f"floor(extract(epoch FROM %s - {moment}) / 86400)::int"
    return f"CAST(julianday(%s) - julianday({moment}) AS INTEGER)"


# From this many customers a page's cost estimate passes PostgreSQL's JIT threshold; below, no JIT
# happens and turning it off would be one more round trip.
JIT_FROM = 100


def no_jit():
    """PostgreSQL's JIT compiles a page's statement for seconds (its cost estimate is past the
    threshold) to save milliseconds: off for the rest of the recompute's transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


def mark_stale(customer_ids, now):
    """Mark the scores of these customers stale as of `now` (those with an order: the others have no
    score), creating the rows of customers scored for the first time. The latest mark wins: a recompute
    that read its facts before it clears only the marks older than its read (write_scores). Returns
    how many were marked. In customer order, as a recompute writes its page: the two never wait for
    each other's rows in a cycle."""
    if not customer_ids:
        return 0
    h, o = table(HealthScore), table(Order)
    among, params = _among("c.id", customer_ids)
    with rows.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {h} (customer_id, score, band, components, policy_version, computed_at, stale_since) "
            f"SELECT c.id, NULL, '', '{{}}', 0, NULL, %s FROM {table(Customer)} c "
            f"WHERE {among} AND EXISTS (SELECT 1 FROM {o} o WHERE o.customer_id = c.id) ORDER BY c.id "
            f"ON CONFLICT (customer_id) DO UPDATE SET stale_since = excluded.stale_since",
            [_param(now), *params])
        return cursor.rowcount


def stale_customers(limit):
    """Up to `limit` customers whose score is stale, longest waiting first."""
    h = table(HealthScore)
    return [row[0] for row in fetch(
        f"SELECT customer_id FROM {h} WHERE stale_since IS NOT NULL ORDER BY stale_since, customer_id LIMIT %s",
        [limit])]
