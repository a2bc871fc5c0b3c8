"""The manager dashboard's figures. Each is one aggregate query answered from indexes (see the
ExceptionCase and Customer indexes), never a Python loop over rows. Some still read every open
exception or every customer of a 20-week window (measured on PostgreSQL at 200,000 customers,
1,000,000 orders and 1,000,000 exceptions: ~0.7 s for the whole snapshot, the cohorts half of it),
so the dashboard view caches the snapshot for a minute.

Medians and cohorts need date arithmetic SQL does not spell the same everywhere: the per-row part
is built by the ORM, and a thin outer query per backend (PostgreSQL, SQLite) aggregates it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, Min, OuterRef, Q, Subquery

from lifecycle.models import OPEN_STATUSES, Customer, ExceptionCase, ExceptionKind, Handoff, Order, Ownership, Team
from lifecycle.selectors.drift import Drift, drift_figures
from lifecycle.selectors.queues import team_rosters, without_jit

# Age of open exceptions, by opening time: the last bucket is everything older.
AGE_BUCKETS = [(timedelta(days=1), "< 1 day"), (timedelta(days=3), "1–3 days"), (timedelta(days=7), "3–7 days"),
               (timedelta(days=30), "7–30 days"), (None, "> 30 days")]
BREACH_WINDOW = timedelta(days=30)  # breach rate over the exceptions that fell due in the last 30 days
OWNER_WINDOW = timedelta(days=30)  # time to owner, over customers whose first order is at most 30 days old
# Weekly cohorts by first order. The 90-day rate needs a cohort 13 weeks + its own week old, so 20
# weeks leave at least six cohorts for every rate while the query reads ~5 months of customers.
COHORT_WEEKS = 20
REPEAT_WINDOWS = (30, 60, 90)
MANAGERS_QUEUE = "Managers"


# --- customers ---------------------------------------------------------------------------------
def customers_without_owner_count():
    """Customers with an order but no Ownership row: invariant 1 broken. Normally 0.

    "More than one owner" cannot happen: one_owner_per_customer is a unique constraint. One anti-join
    of two indexes (ownership by customer, orders by customer).
    """
    return Customer.objects.filter(
        Exists(Order.objects.filter(customer_id=OuterRef("pk"))),
        ~Exists(Ownership.objects.filter(customer_id=OuterRef("pk"))),
    ).count()


# --- open exceptions ---------------------------------------------------------------------------
@dataclass
class OpenExceptions:
    total: int = 0
    breached: int = 0  # open and past the SLA sweep
    unassigned_customers_past_sla: int = 0  # open `unassigned_customer` past due: customers without an agent
    by_kind: list = field(default_factory=list)  # [{"kind", "label", "count"}] every kind, most first
    by_queue: list = field(default_factory=list)  # [{"team_id" (None: managers), "label", "count", "unassigned"}]
    by_age: list = field(default_factory=list)  # [{"label", "count"}] youngest first
    managers: dict = field(default_factory=dict)  # the managers' queue: {"count", "unassigned", "late", "oldest"}


def _age_filters(now):
    """One filter per AGE_BUCKETS entry, on the opening time."""
    bounds = [now - span for span, _ in AGE_BUCKETS if span]
    filters = []
    for i in range(len(AGE_BUCKETS)):
        q = Q(opened_at__gte=bounds[i]) if i < len(bounds) else Q()
        filters.append(q & Q(opened_at__lt=bounds[i - 1]) if i else q)
    return filters


def open_exceptions(now, teams):
    """Every open-exception figure from one scan of the open-exceptions index, in its (kind, queue)
    order: one row per pair comes back (kinds x queues, a few dozen), ages as conditional counts.
    `teams` is [(id, name)], so every queue shows, empty ones too."""
    ages = {f"age{i}": Count("opened_at", filter=q) for i, q in enumerate(_age_filters(now))}
    rows = (
        ExceptionCase.objects.filter(status__in=OPEN_STATUSES)
        .values("kind", "queue")
        .annotate(n=Count("*"), assigned=Count("assignee"), breached=Count("breached_at"),
                  overdue=Count("due_at", filter=Q(due_at__lt=now)),
                  late=Count("opened_at", filter=Q(breached_at__isnull=False) | Q(due_at__lt=now)),
                  oldest=Min("opened_at"), **ages)
        .order_by()
    )
    kinds = {value: 0 for value in ExceptionKind.values}
    queues = {team_id: [0, 0] for team_id, _ in teams} | {None: [0, 0]}
    by_age = [0] * len(AGE_BUCKETS)
    result = OpenExceptions()
    # Late: breached by the sweep or past due (the sweep runs every minute); oldest: its opening time.
    managers = result.managers = {"count": 0, "unassigned": 0, "late": 0, "oldest": None}
    for row in rows:
        n = row["n"]
        result.total += n
        result.breached += row["breached"]
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + n
        counts = queues.setdefault(row["queue"], [0, 0])
        counts[0] += n
        counts[1] += n - row["assigned"]
        for i in range(len(AGE_BUCKETS)):
            by_age[i] += row[f"age{i}"]
        if row["kind"] == ExceptionKind.UNASSIGNED_CUSTOMER:
            result.unassigned_customers_past_sla += row["overdue"]
        if row["queue"] is None:
            managers["count"] += n
            managers["unassigned"] += n - row["assigned"]
            managers["late"] += row["late"]
            if managers["oldest"] is None or row["oldest"] < managers["oldest"]:
                managers["oldest"] = row["oldest"]
    labels = dict(ExceptionKind.choices)
    result.by_kind = sorted(({"kind": k, "label": labels.get(k, k), "count": n} for k, n in kinds.items()),
                            key=lambda item: (-item["count"], item["label"]))
    names = dict(teams)
    result.by_queue = [{"team_id": team_id, "label": names.get(team_id, MANAGERS_QUEUE if team_id is None else team_id),
                        "count": total, "unassigned": unassigned}
                       for team_id, (total, unassigned) in queues.items()]
    result.by_age = [{"label": label, "count": by_age[i]} for i, (_, label) in enumerate(AGE_BUCKETS)]
    return result


def sla_breach_rate(now, window=BREACH_WINDOW):
    """Of the exceptions whose SLA fell due in the window: how many were breached (the sweep marked
    them, they closed late, or they are still open past due). One range scan on the due-time index."""
    late = Q(breached_at__isnull=False) | Q(closed_at__isnull=True) | Q(closed_at__gt=F("due_at"))
    figures = ExceptionCase.objects.filter(due_at__gte=now - window, due_at__lt=now).aggregate(
        due=Count("due_at"), breached=Count("due_at", filter=late)
    )
    due, breached = figures["due"], figures["breached"]
    return {"due": due, "breached": breached, "rate": (breached / due) if due else None}


# --- backend specifics ---------------------------------------------------------------------------
def _postgres():
    return connection.vendor == "postgresql"


def _days(later, earlier):
    """SQL: `later - earlier` in days, as a real number (date_part: a double, cheaper than EXTRACT's numeric)."""
    if _postgres():
        return f"(date_part('epoch', {later} - {earlier}) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


def _within(later, earlier, days):
    """SQL: `later` is at most `days` days after `earlier` (false when `later` is NULL)."""
    if _postgres():
        return f"{later} <= {earlier} + interval '{int(days)} days'"
    return f"{_days(later, earlier)} <= {int(days)}"


def _fenced(sql):
    """The per-row subquery as a fence: without it PostgreSQL inlines it and runs its correlated
    probe once per reference (three times for three windows)."""
    return f"{sql} OFFSET 0" if _postgres() else sql


def _run(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _first(handoffs):
    # Newest-first index on (customer, created_at), read backwards: the first row is the oldest.
    return Subquery(handoffs.order_by("created_at").values("created_at")[:1])


def time_to_owner(now, window=OWNER_WINDOW):
    """Median time from a customer's first order to its first owning team and to its first agent
    (their first Handoff, and first Handoff naming an agent), over customers whose first order falls
    in the window. Returns {"customers", "to_team", "to_agent"}, the medians as timedeltas or None."""
    handoffs = Handoff.objects.filter(customer_id=OuterRef("pk"))
    per_customer = Customer.objects.filter(first_order_at__gte=now - window, first_order_at__lt=now).order_by().values(
        f=F("first_order_at"), team_at=_first(handoffs), agent_at=_first(handoffs.filter(to_agent__isnull=False)),
    )
    inner, params = per_customer.query.sql_with_params()
    team_days, agent_days = _days("t.team_at", "t.f"), _days("t.agent_at", "t.f")
    if _postgres():
        row = _run(
            f"SELECT COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY {team_days}), "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {agent_days}) FROM ({_fenced(inner)}) t",
            params,
        )
    else:
        # SQLite has no percentile: the middle row (or the mean of the middle two) by LIMIT/OFFSET.
        def median(name):
            return (f"(SELECT AVG(d) FROM (SELECT d FROM {name} ORDER BY d "
                    f"LIMIT 2 - (SELECT COUNT(*) FROM {name}) %% 2 OFFSET ((SELECT COUNT(*) FROM {name}) - 1) / 2))")

        row = _run(
            f"WITH t AS ({inner}), "
            f"a AS (SELECT {team_days} AS d FROM t WHERE t.team_at IS NOT NULL), "
            f"b AS (SELECT {agent_days} AS d FROM t WHERE t.agent_at IS NOT NULL) "
            f"SELECT (SELECT COUNT(*) FROM t), {median('a')}, {median('b')}",
            params,
        )
    customers, to_team, to_agent = row
    # Whole seconds: julianday() arithmetic carries float noise below a millisecond.
    as_delta = lambda days: None if days is None else timedelta(seconds=round(float(days) * 86400))  # noqa: E731
    return {"customers": customers, "to_team": as_delta(to_team), "to_agent": as_delta(to_agent)}


def _week_start(now):
    """Monday 00:00 UTC of now's week."""
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def repeat_purchase_cohorts(now, weeks=COHORT_WEEKS, windows=REPEAT_WINDOWS):
    """Weekly cohorts by first order (the `weeks` complete weeks before this one), each with its
    size and, per window N, the share of its customers with another order within N days of their
    first. A rate is None until the cohort is old enough: its last customer must have had N days.

    One query: per customer the next order after the first (one index probe on orders by customer),
    counted per week in SQL.
    """
    this_week = _week_start(now)
    start = this_week - timedelta(weeks=weeks)
    next_order = Order.objects.filter(customer_id=OuterRef("pk"), placed_at__gt=OuterRef("first_order_at"))
    per_customer = Customer.objects.filter(first_order_at__gte=start, first_order_at__lt=this_week).order_by().values(
        f=F("first_order_at"),
        nxt=Subquery(next_order.order_by("placed_at").values("placed_at")[:1]),
    )
    inner, params = per_customer.query.sql_with_params()
    origin = connection.ops.adapt_datetimefield_value(start)
    if _postgres():
        week = f"FLOOR({_days('t.f', '%s::timestamptz')} / 7)::int"
    else:
        week = f"CAST({_days('t.f', '%s')} / 7 AS INTEGER)"  # truncation is floor here: t.f >= origin
    repeats = ", ".join(f"SUM(CASE WHEN {_within('t.nxt', 't.f', n)} THEN 1 ELSE 0 END)" for n in windows)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {week} AS w, COUNT(*), {repeats} FROM ({_fenced(inner)}) t GROUP BY 1 ORDER BY 1",
                       [origin, *params])
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    cohorts = []
    for i in range(weeks):
        week_start = start + timedelta(weeks=i)
        size, *repeated = rows.get(i, (0,) + (0,) * len(windows))
        rates = {}
        for n, count in zip(windows, repeated, strict=True):
            old_enough = week_start + timedelta(weeks=1, days=n) <= now
            rates[n] = (int(count or 0) / size) if (old_enough and size) else None
        cohorts.append({"week": week_start.date(), "size": size, "rates": rates})
    return cohorts


@dataclass
class Dashboard:
    computed_at: datetime
    customers_without_owner: int
    open: OpenExceptions
    breach: dict
    time_to_owner: dict
    cohorts: list
    teams: list  # [{"id", "name", "count", "unassigned", "agents": [...]}]
    drift: Drift = None  # reconciliation drift: open mismatches per system pair, and their trend


def dashboard(now):
    """Every figure of the manager dashboard, in a fixed number of queries (10, plus the JIT setting
    on PostgreSQL) whatever the data size."""
    with without_jit():
        return _dashboard(now)


def _dashboard(now):
    teams = list(Team.objects.order_by("name").values_list("id", "name"))
    open_figures = open_exceptions(now, teams)
    rosters = team_rosters(teams)
    queue_counts = {item["team_id"]: item for item in open_figures.by_queue}
    return Dashboard(
        computed_at=now,
        customers_without_owner=customers_without_owner_count(),
        open=open_figures,
        breach=sla_breach_rate(now),
        time_to_owner=time_to_owner(now),
        cohorts=repeat_purchase_cohorts(now),
        teams=[{"id": team_id, "name": name, "count": queue_counts[team_id]["count"],
                "unassigned": queue_counts[team_id]["unassigned"], "agents": rosters[team_id]}
               for team_id, name in teams],
        drift=drift_figures(now),
    )
