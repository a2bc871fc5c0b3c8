"""Figure: the SLA sweep on PostgreSQL.

Budget: ≤ 10 s for one lifecycle.services.sla.sla_sweep over 1,000,000 open exceptions of which
100,000 are due (plus 200,000 closed ones past their due time, which it must leave alone). Half of
the exceptions have a customer, so the sweep also writes 50,000 `exception_breached` timeline events.
The data is seeded with INSERT … SELECT generate_series (timed separately, not counted), then
VACUUM ANALYZE, as a table that has lived for a while would be.

Database (dropped and recreated): BENCH_DATABASE_URL, else DATABASE_URL's server (if PostgreSQL) with
"_bench_sla" added to the name, else postgres://postgres@127.0.0.1:5432/aftercare_bench_sla. It never
drops a database it did not name.

    .venv/bin/python benchmarks/bench_sla_sweep.py [--open 1000000] [--due 100000]

Exit status: 0 when the figure was measured (PASS or FAIL against the budget), 1 on an error or when
the sweep escalated the wrong rows (count, severity, queue, events, or a second sweep changing anything).
"""

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_S = 10.0  # issue 4: "SLA sweep over 1,000,000 open exceptions of which 100,000 are due: ≤ 10 s"
CLOSED = 200_000  # resolved/dismissed rows past due: the sweep must not even look at them
CUSTOMERS = 100_000  # every second exception belongs to one of them
KINDS = ["unowned_customer", "unassigned_customer", "ownership_conflict", "state_mismatch", "unmapped_status",
         "missed_touchpoint", "duplicate_customer", "sync_failure", "at_risk", "payment_problem"]


def seed(cursor, now, n_open, n_due):
    """Customers, then open exceptions (every n_open/n_due-th one due), then closed ones past due.

    Open row g: subject "bench:g" (unique, as the one-open index needs); kind, customer (half),
    queue (a team for 6 in 7, else the managers'), severity (1..4, so the cap at 4 is exercised) and
    claimed (1 in 13) vary with g on strides that share no factor with the due step, so the due
    rows get the same mix; due in the past when g % step = 0, else up to a week ahead.
    """
    cursor.execute("SELECT id FROM lifecycle_team ORDER BY id")
    teams = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        """INSERT INTO lifecycle_customer (display_name, email, phone, country, tags, stage, created_at, updated_at)
           SELECT 'Bench customer ' || g, 'bench' || g || '@example.com', '', 'DE', '[]', 'onboarding', %(now)s, %(now)s
             FROM generate_series(1, %(n)s) g""",
        {"now": now, "n": CUSTOMERS},
    )
    cursor.execute("SELECT min(id) FROM lifecycle_customer")
    first_customer = cursor.fetchone()[0]
    common = """
        INSERT INTO lifecycle_exceptioncase
            (kind, subject_key, customer_id, queue_id, severity, status, summary, evidence, occurrences,
             due_at, opened_at, updated_at, reopened_count, closed_at, resolution_reason)
        SELECT (%(kinds)s::text[])[g / 7 %% 10 + 1], %(prefix)s || g,
               CASE WHEN abs(hashtext('c' || g)) %% 2 = 0 THEN %(c0)s + g %% %(nc)s END,
               CASE WHEN g %% 7 = 1 THEN NULL ELSE (%(teams)s::bigint[])[g %% %(nt)s + 1] END,
               g / 11 %% 4 + 1, {status}, 'Bench problem ' || g, '{{"bench": true}}', 1,
               {due_at}, %(now)s - interval '2 days', %(now)s - interval '2 days', 0, {closed_at}, {reason}
          FROM generate_series(1, %(n)s) g"""
    params = {"kinds": KINDS, "teams": teams, "nt": len(teams), "c0": first_customer, "nc": CUSTOMERS, "now": now}
    step = n_open // n_due
    cursor.execute(common.format(
        status="CASE WHEN g %% 13 = 0 THEN 'in_progress' ELSE 'open' END",
        due_at=f"CASE WHEN g %% {step} = 0 THEN %(now)s - (g %% 1440) * interval '1 minute' "
               "ELSE %(now)s + (1 + g %% 10000) * interval '1 minute' END",
        closed_at="NULL", reason="''"), params | {"prefix": "bench:", "n": n_open})
    cursor.execute(common.format(
        status="CASE WHEN g %% 2 = 0 THEN 'resolved' ELSE 'dismissed' END",
        due_at="%(now)s - interval '1 day'", closed_at="%(now)s - interval '1 hour'", reason="'bench'"),
        params | {"prefix": "bench-closed:", "n": CLOSED})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    url = migrated_bench_database("bench_sla", "SLA sweep")
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from lifecycle.models import OPEN_STATUSES, EventKind, ExceptionCase, TimelineEvent
    from lifecycle.services.sla import sla_sweep

    migrated = time.perf_counter()
    now = timezone.now()
    with connection.cursor() as cursor:
        seed(cursor, now, args.open, args.due)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE lifecycle_exceptioncase")
        cursor.execute("VACUUM ANALYZE lifecycle_customer")
        cursor.execute("VACUUM ANALYZE lifecycle_timelineevent")
    seeded = time.perf_counter()
    where = urlsplit(url)
    print(f"database: {where.hostname}:{where.port or 5432}{where.path} (PostgreSQL {connection.pg_version // 10000}), "
          f"DEBUG {'on' if settings.DEBUG else 'off'}, one process")
    print(f"setup: create db + migrate {migrated - started:.1f} s; seed {CUSTOMERS:,} customers, {args.open:,} open "
          f"exceptions ({args.due:,} due) and {CLOSED:,} closed ones past due + VACUUM ANALYZE "
          f"{seeded - migrated:.1f} s (not counted)")

    open_due = ExceptionCase.objects.filter(status__in=OPEN_STATUSES, breached_at__isnull=True, due_at__lte=now)
    expected = open_due.count()
    expected_events = open_due.filter(customer__isnull=False).count()
    expected_critical = open_due.filter(severity__gte=3).count()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    breached = sla_sweep(now)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    again = sla_sweep(now)
    second = time.perf_counter() - t1

    events = TimelineEvent.objects.filter(kind=EventKind.EXCEPTION_BREACHED).count()
    escalated = ExceptionCase.objects.filter(breached_at=now)
    wrong = {
        "breached count": (breached, expected),
        "rows with breached_at = now": (escalated.count(), expected),
        "escalated rows left in a team queue": (escalated.filter(queue__isnull=False).count(), 0),
        "critical after escalation": (escalated.filter(severity=4).count(), expected_critical),
        "timeline events": (events, expected_events),
        "closed rows touched": (ExceptionCase.objects.exclude(status__in=OPEN_STATUSES)
                                .filter(breached_at__isnull=False).count(), 0),
        "second sweep": (again, 0),
    }
    print(f"sweep: {breached:,} of {args.open:,} open exceptions escalated, {events:,} timeline events, "
          f"{elapsed:.2f} s ({breached / elapsed:,.0f} exceptions/s); a second sweep at the same time: "
          f"{again} escalated in {second * 1000:.0f} ms")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    print(f"FIGURE sla_sweep_seconds: {elapsed:.2f} s (budget <= {BUDGET_S:g} s) "
          f"{'PASS' if elapsed <= BUDGET_S else 'FAIL'}")
    bad = {name: got for name, got in wrong.items() if got[0] != got[1]}
    if bad:
        print("INTEGRITY ERROR (got, expected): " + "; ".join(f"{name} {got}" for name, got in bad.items()))
        return 1
    print("integrity: every due open exception escalated once, none of the others touched, one event each "
          "with a customer, second sweep a no-op")
    return 0


if __name__ == "__main__":
    sys.exit(main())
