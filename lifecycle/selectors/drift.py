"""Reconciliation drift (issue 13, item 9): open `state_mismatch` exceptions per system pair with their
ages and how many are past their SLA, and the mismatches opened and resolved per day. Two queries,
grouped in SQL whatever the number of mismatches (the dashboard's snapshot, lifecycle.selectors.metrics).

A mismatch's pairs come from its evidence: each rule the reconciliation engine found broken names
its left and right systems (lifecycle.services.reconcile), so an order whose systems disagree in two
pairs counts under each. One opened by a move the order's state graph refused (evidence "wanted") is
the refused system against the console. An orphan (evidence "only": the ERP names an order the shop
has not reported, lifecycle.services.observations) is its system against the order's. One with none
of these (opened by other means) has no pair.
The rules' JSON is expanded per backend (jsonb_array_elements, json_each); everything else is plain SQL.

The trend reads opening and closing times: a mismatch reopened since counts on the day it reopened,
and its earlier resolution no longer shows (reopening restarts its clock: lifecycle.services.exceptions).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.db import connection
from django.db.models import Case, CharField, DateTimeField, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionKind, ExceptionStatus, Order, System, ToleranceRule

TREND_DAYS = 14
CONSOLE = "console"  # the other side of a refused move: the order's state graph, i.e. the console itself
# Pair sides in a fixed order (the shop first), so "ERP ↔ WooCommerce" and "WooCommerce ↔ ERP" are one pair.
SIDE_ORDER = [value for value, _ in System.choices]


@dataclass
class Drift:
    active_rules: int = 0
    # [{"pair": (a, b), "count", "late", "orphans", "oldest", "middle"}], most first: see open_by_pair
    open: list = field(default_factory=list)
    days: list = field(default_factory=list)  # the trend's days (dates, console time zone), oldest first
    opened: dict = field(default_factory=dict)  # {pair: [count per day]}
    resolved: list = field(default_factory=list)  # [mismatches resolved per day]


def _postgres():
    return connection.vendor == "postgresql"


def _pairs_sql():
    """(FROM-clause tail expanding t.evidence's rules into r, SQL of side a, SQL of side b) over a
    per-row subquery t with columns evidence, refused (1/0), own (a refused move's system) and
    only_left, only_right (an orphan's system and its order's)."""
    if _postgres():
        expand = ("LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN t.refused = 0 AND "
                  "jsonb_typeof(t.evidence -> 'rules') = 'array' THEN t.evidence -> 'rules' ELSE '[]'::jsonb END)"
                  " AS r(rule) ON TRUE")
        left, right = "(r.rule ->> 'left')", "(r.rule ->> 'right')"
    else:
        expand = ("LEFT JOIN json_each(CASE WHEN t.refused = 0 AND json_type(t.evidence, '$.rules') = 'array' "
                  "THEN json_extract(t.evidence, '$.rules') ELSE '[]' END) AS r")
        left, right = "json_extract(r.value, '$.left')", "json_extract(r.value, '$.right')"
    orphan = "t.only_left IS NOT NULL AND t.only_right IS NOT NULL"
    left, right = (f"(CASE WHEN {orphan} THEN t.{column} ELSE {side} END)"
                   for column, side in (("only_left", left), ("only_right", right)))

    def rank(side):
        whens = " ".join(f"WHEN '{value}' THEN {i}" for i, value in enumerate(SIDE_ORDER))
        return f"(CASE {side} {whens} ELSE {len(SIDE_ORDER)} END)"

    in_order = f"{rank(left)} <= {rank(right)}"
    a = f"(CASE WHEN t.refused = 1 THEN t.own WHEN {in_order} THEN {left} ELSE {right} END)"
    b = f"(CASE WHEN t.refused = 1 THEN '{CONSOLE}' WHEN {in_order} THEN {right} ELSE {left} END)"
    return expand, a, b


def _flag(q):
    return Case(When(q, then=Value(1)), default=Value(0), output_field=IntegerField())


def _own_system():
    """A refused move's system: the key its evidence gives the raw status under (lifecycle.services.
    observations: the order's own system, or the ERP on the shop's order), else the order's; NULL for
    every other mismatch, so no order is read for those."""
    keyed = [When(evidence__has_key=system, then=Value(system)) for system in SIDE_ORDER]
    order = Subquery(Order.objects.filter(pk=OuterRef("order_id")).order_by().values("system")[:1])
    return Case(When(~Q(evidence__has_key="wanted"), then=Value(None)), *keyed, default=order,
                output_field=CharField())


def _orphan(path):
    return Case(When(evidence__has_key="only", then=KT(path)), default=Value(None), output_field=CharField())


def _per_row(cases, *fields, **extra):
    """The per-row subquery: id, evidence, whether a refused move opened it and its system, whether
    it is an orphan (1/0), and an orphan's two systems."""
    return cases.order_by().values(
        "id", "evidence", *fields, own=_own_system(), refused=_flag(Q(evidence__has_key="wanted")),
        orphan=_flag(Q(evidence__has_key="only")), only_left=_orphan("evidence__system"),
        only_right=_orphan("evidence__order__system"), **extra)


def _moment(value):
    """A timestamp from a raw cursor: aware on PostgreSQL, naive UTC text on SQLite."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return parse_datetime(value).replace(tzinfo=UTC)


def open_by_pair(now):
    """(active rules, [{"pair", "count", "late", "orphans", "oldest", "middle"}]): the open mismatches
    per pair, how many are late (breached by the sweep, or past due before its next round), how many
    are orders only one of the pair has reported (orphans), the opening time of
    the oldest, and the median opening time (of the middle one, or between the middle two): its age
    is the pair's median age.
    One query; the active rules' count comes with it, so a dashboard without rules says so."""
    late = Q(breached_at__isnull=False) | Q(due_at__lt=now)
    rows = _per_row(ExceptionCase.objects.filter(kind=ExceptionKind.STATE_MISMATCH, status__in=OPEN_STATUSES),
                    "opened_at", late=_flag(late))
    inner, params = rows.query.sql_with_params()
    expand, a, b = _pairs_sql()
    middle = "CASE WHEN g.rn IN ((g.n + 1) / 2, (g.n + 2) / 2) THEN g.opened_at END"
    sql = (
        f"WITH t AS ({inner}), "
        f"p AS (SELECT DISTINCT t.id, t.opened_at, t.late, t.orphan, {a} AS a, {b} AS b FROM t {expand}), "
        "g AS (SELECT p.*, ROW_NUMBER() OVER (PARTITION BY p.a, p.b ORDER BY p.opened_at, p.id) AS rn, "
        "COUNT(*) OVER (PARTITION BY p.a, p.b) AS n FROM p) "
        f"SELECT k.active, g.a, g.b, COUNT(g.id), SUM(g.late), SUM(g.orphan), MIN(g.opened_at), MIN({middle}), "
        f"MAX({middle}) "
        f"FROM (SELECT COUNT(*) AS active FROM {ToleranceRule._meta.db_table} WHERE active = %s) k "
        "LEFT JOIN g ON 1 = 1 GROUP BY k.active, g.a, g.b"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, True])
        found = cursor.fetchall()
    pairs = []
    for _active, side_a, side_b, count, n_late, orphans, oldest, low, high in found:
        if not count:
            continue  # the one row of the rules' count when nothing is open
        low, high = _moment(low), _moment(high)
        pairs.append({"pair": (side_a, side_b), "count": count, "late": int(n_late or 0),
                      "orphans": int(orphans or 0), "oldest": _moment(oldest), "middle": low + (high - low) / 2})
    pairs.sort(key=lambda item: (-item["count"], _pair_order(item["pair"])))
    return (found[0][0] if found else 0), pairs


def _pair_order(pair):
    """The systems' pairs first (in SIDE_ORDER), then refused moves (by system), then no pair."""
    sides = tuple(SIDE_ORDER.index(s) if s in SIDE_ORDER else len(SIDE_ORDER) for s in pair)
    return (pair[1] == CONSOLE) + 2 * (pair == (None, None)), sides


def trend_days(now, days=TREND_DAYS):
    """The trend's days in the console's time zone, oldest first (today last), and their boundaries
    as aware datetimes: days + 1 of them, each a local midnight (so a day around a DST change is 23 or
    25 hours, as the people reading it lived it)."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now, zone).date()
    dates = [today - timedelta(days=days - 1 - i) for i in range(days)]
    bounds = [timezone.make_aware(datetime.combine(d, time.min), zone) for d in [*dates, today + timedelta(days=1)]]
    return dates, bounds


def trend(now, days=TREND_DAYS):
    """(dates, {pair: [opened per day]}, [resolved per day]) over the last `days` days, today last.
    Resolved counts mismatches, not pairs: one order's mismatch resolves once, however many pairs it named."""
    dates, bounds = trend_days(now, days)
    cases = ExceptionCase.objects.filter(
        Q(opened_at__gte=bounds[0]) | Q(status=ExceptionStatus.RESOLVED, closed_at__gte=bounds[0]),
        kind=ExceptionKind.STATE_MISMATCH)
    resolved_at = Case(When(status=ExceptionStatus.RESOLVED, then=F("closed_at")), default=Value(None),
                       output_field=DateTimeField())
    inner, params = _per_row(cases, "opened_at", resolved_at=resolved_at).query.sql_with_params()
    expand, a, b = _pairs_sql()
    moments = [connection.ops.adapt_datetimefield_value(bound) for bound in bounds]

    def day_of(column):
        """SQL: the index of the day `column` falls in, NULL outside the days."""
        whens = " ".join(f"WHEN {column} < %s THEN {i}" for i in range(days))
        return f"CASE WHEN {column} IS NULL OR {column} < %s THEN NULL {whens} END"

    sql = (
        f"WITH t AS ({inner}), "
        f"p AS (SELECT DISTINCT t.id, {a} AS a, {b} AS b, {day_of('t.opened_at')} AS od, "
        f"{day_of('t.resolved_at')} AS rd FROM t {expand}) "
        "SELECT 0, p.a, p.b, p.od, COUNT(*) FROM p WHERE p.od IS NOT NULL GROUP BY p.a, p.b, p.od "
        "UNION ALL SELECT 1, NULL, NULL, p.rd, COUNT(DISTINCT p.id) FROM p WHERE p.rd IS NOT NULL GROUP BY p.rd"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *moments, *moments])
        found = cursor.fetchall()
    opened, resolved = {}, [0] * days
    for which, side_a, side_b, day, count in found:
        if which:
            resolved[int(day)] += count
        else:
            opened.setdefault((side_a, side_b), [0] * days)[int(day)] += count
    return dates, dict(sorted(opened.items(), key=lambda item: _pair_order(item[0]))), resolved


def drift_figures(now):
    """The dashboard's drift section: two queries."""
    active, pairs = open_by_pair(now)
    dates, opened, resolved = trend(now)
    return Drift(active_rules=active, open=pairs, days=dates, opened=opened, resolved=resolved)
