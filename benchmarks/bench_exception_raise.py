"""Figure: raising exceptions through the service on PostgreSQL, one process per CPU.

Budget: ≥ 1,000 raises/s for 50,000 calls of lifecycle.services.exceptions.exception_raise, 20% of
them repeats of an exception that is open (they refresh its evidence and count the occurrence), the
rest new (kind, subject) pairs: policy, owner-team routing, business-hours due time from the queue's
calendar, insert, timeline event. Mixed as production would be: 10,000 owned customers in teams on
three time zones with company and team holidays, six customer kinds (four routed to the owner team)
and store-level kinds without a customer.

Database (dropped and recreated): BENCH_DATABASE_URL, else DATABASE_URL's server (if PostgreSQL) with
"_bench_sla_raise" added to the name, else postgres://postgres@127.0.0.1:5432/aftercare_bench_sla_raise.
It never drops a database it did not name.

    .venv/bin/python benchmarks/bench_exception_raise.py [--calls 50000] [--repeat-share 0.2]
        [--closed 100000] [--open 20000]  # exceptions of other subjects first: a live table's history
                                          # and backlog (0 and 0: an empty table)
        [--processes N]               # raising processes (default: one per CPU)
        [--synchronous-commit off]    # diagnostic: the bench database stops waiting for the disk on commit

Raised by --processes processes at once (default: one per CPU, as a Celery worker's default
concurrency), each (kind, subject) always by the same process and in plan order; --processes 1
gives one process's figure. Each raise commits once (a repeat is one UPDATE in autocommit), so the
disk's flush time is a floor under every raise in a process: the script measures it (and one query's
round trip) first and prints both.

Exit status: 0 when the figure was measured (PASS or FAIL against the budget), 1 on an error or when
the data breaks an invariant afterwards (row count, occurrences, one open per subject, events).
"""

import argparse
import os
import queue
import random
import sys
import time
import zlib
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET = 1_000  # raises per second (issue 4)
CUSTOMERS = 10_000
CUSTOMER_KINDS = ["at_risk", "state_mismatch", "ownership_conflict", "missed_touchpoint",  # to the owner team
                  "payment_problem", "duplicate_customer"]  # to a fixed team
STORE_KINDS = ["sync_failure", "unmapped_status"]  # no customer: managers' queue
STORE_SHARE = 0.05  # of new raises: store-level problems are rarer than customer ones
CALENDARS = {"commerce": "America/New_York", "support": "Asia/Tokyo", "success": "Europe/Berlin"}


def setup_data():
    """Team calendars and holidays; 10,000 customers, each owned by one of three teams."""
    from django.utils import timezone

    from lifecycle.models import Customer, Holiday, Ownership, Team

    teams = []
    for slug, tz in CALENDARS.items():
        team = Team.objects.get(slug=slug)
        team.time_zone = tz
        team.save()
        teams.append(team)
    today = date.today()
    Holiday.objects.bulk_create([Holiday(team=None, date=today + timedelta(days=d), name="Company day")
                                 for d in (3, 40, 90)])
    Holiday.objects.bulk_create([Holiday(team=t, date=today + timedelta(days=d), name=f"{t.slug} day")
                                 for t in teams for d in (1, 20)])
    now = timezone.now()
    # Loaded in bulk: the figure is about raising, and customers through their services would only
    # make the setup slow. Constructor arguments (not assignment) satisfy the protected stage field.
    Customer.objects.bulk_create([Customer(display_name=f"Bench customer {i}", email=f"bench{i}@example.com",
                                           stage="onboarding", created_at=now) for i in range(CUSTOMERS)],
                                 batch_size=2_000)
    customers = list(Customer.objects.order_by("pk"))
    Ownership.objects.bulk_create([Ownership(customer=c, team=teams[i % len(teams)], since=now)
                                   for i, c in enumerate(customers)], batch_size=2_000)
    return customers


def seed_history(cursor, closed, still_open):
    """Exceptions of subjects the benchmark never raises, `closed` resolved and `still_open` open:
    the history and the backlog a live table has, analysed, so the planner plans as in production
    (on an empty table's statistics it sees no open rows and may pick any open-only index)."""
    cursor.execute(
        """INSERT INTO lifecycle_exceptioncase
               (kind, subject_key, severity, status, summary, evidence, occurrences, due_at, opened_at, updated_at,
                reopened_count, closed_at, resolution_reason)
           SELECT (%(kinds)s::text[])[g %% 6 + 1], 'history:' || g, 2,
                  CASE WHEN g <= %(open)s THEN 'open' ELSE 'resolved' END, 'Old problem', '{}', 1,
                  now() + (g %% 97) * interval '1 hour', now() - interval '31 days', now() - interval '30 days', 0,
                  CASE WHEN g <= %(open)s THEN NULL ELSE now() - interval '30 days' END,
                  CASE WHEN g <= %(open)s THEN '' ELSE 'fixed' END
             FROM generate_series(1, %(n)s) g""",
        {"kinds": CUSTOMER_KINDS, "n": closed + still_open, "open": still_open},
    )
    cursor.execute("VACUUM ANALYZE lifecycle_exceptioncase")


def measure_floors(connection, n=300):
    """Microseconds of one trivial query's round trip, and of one committed one-row INSERT."""
    with connection.cursor() as cursor:
        t0 = time.perf_counter()
        for _ in range(n):
            cursor.execute("SELECT 1")
        round_trip = (time.perf_counter() - t0) / n
        cursor.execute("CREATE TABLE bench_commit (n int)")  # not TEMPORARY: those skip the WAL and its flush
        t0 = time.perf_counter()
        for i in range(n):
            cursor.execute("INSERT INTO bench_commit VALUES (%s)", [i])
        commit = (time.perf_counter() - t0) / n
        cursor.execute("DROP TABLE bench_commit")
    return round_trip * 1e6, commit * 1e6


def plan_calls(customers, n_calls, repeat_share, rng):
    """(kind, subject_key, customer) per call; a repeat names a subject raised earlier in the plan."""
    pairs = [(kind, c) for c in customers for kind in CUSTOMER_KINDS]
    rng.shuffle(pairs)
    n_repeats = round(n_calls * repeat_share)
    n_new = n_calls - n_repeats
    if n_new > len(pairs) / (1 - STORE_SHARE):
        raise SystemExit(f"ERROR: {n_new} new raises need more than {CUSTOMERS} customers")
    repeat_at = set(rng.sample(range(1, n_calls), n_repeats))
    calls, raised, store = [], [], 0
    for i in range(n_calls):
        if i in repeat_at:
            calls.append(rng.choice(raised))
            continue
        if rng.random() < STORE_SHARE:
            store += 1
            call = (STORE_KINDS[store % 2], f"store:bench-{store}/problem", None)
        else:
            kind, customer = pairs.pop()
            call = (kind, f"customer:{customer.pk}", customer)
        raised.append(call)
        calls.append(call)
    return calls, n_new


def split_by_subject(calls, processes):
    """The calls in `processes` lanes, each (kind, subject) in one lane and in plan order: a repeat
    then follows its first raise as in the plan, and lanes contend only on shared rows (customers,
    the timeline, the indexes), as workers raising different problems do."""
    lanes = [[] for _ in range(max(1, processes))]
    for call in calls:
        lanes[zlib.crc32(f"{call[0]} {call[1]}".encode()) % len(lanes)].append(call)
    return [lane for lane in lanes if lane]


def raise_lane(lane, start, results):
    """One raising process: its own connection, then the lane's raises once every process is ready."""
    from django.db import connection

    from lifecycle.actors import Actor
    from lifecycle.services.exceptions import exception_raise

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    actor = Actor.webhook("bench")
    connection.ensure_connection()
    start.wait()
    opened, cpu0 = 0, time.process_time()
    with connection.execute_wrapper(count):
        for n, (kind, subject, customer) in enumerate(lane):
            _, was_opened = exception_raise(kind=kind, subject_key=subject, summary=f"Bench problem {n}",
                                            evidence={"n": n, "source": "bench"}, customer=customer, actor=actor)
            opened += was_opened
    results.put((opened, queries[0], time.process_time() - cpu0))
    connection.close()


def raise_in_processes(lanes):
    """Seconds from the start signal to the last lane's end, and each lane's (opened, queries, CPU s)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # each forked process opens its own
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(len(lanes) + 1), context.Queue()
    processes = [context.Process(target=raise_lane, args=(lane, start, results)) for lane in lanes]
    for process in processes:
        process.start()
    start.wait()
    t0 = time.perf_counter()
    collected = []
    while len(collected) < len(processes):
        try:
            collected.append(results.get(timeout=5))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                raise SystemExit("ERROR: a raising process failed (its traceback is above)") from None
    elapsed = time.perf_counter() - t0
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"ERROR: a raising process exited with status {process.exitcode}")
    return elapsed, collected


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--repeat-share", type=float, default=0.2)
    parser.add_argument("--closed", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--synchronous-commit", choices=["on", "off"], default="on")
    parser.add_argument("--processes", type=int, default=os.cpu_count(),
                        help="raising processes, as a Celery worker's default concurrency (one per CPU)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    url = migrated_bench_database("bench_sla_raise", "exception raise", args.synchronous_commit)
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, Sum

    from lifecycle.models import OPEN_STATUSES, EventKind, ExceptionCase, TimelineEvent

    customers = setup_data()
    if args.closed or args.open:
        with connection.cursor() as cursor:
            seed_history(cursor, args.closed, args.open)
    calls, n_new = plan_calls(customers, args.calls, args.repeat_share, random.Random(4))
    setup = time.perf_counter() - started
    where = urlsplit(url)
    print(f"database: {where.hostname}:{where.port or 5432}{where.path} (PostgreSQL {connection.pg_version // 10000}), "
          f"DEBUG {'on' if settings.DEBUG else 'off'}, one process")
    print(f"setup (create db, migrate, {CUSTOMERS:,} owned customers in {len(CALENDARS)} time zones, holidays, "
          f"history of {args.closed:,} closed and {args.open:,} open exceptions): {setup:.1f} s (not counted)")
    round_trip, commit = measure_floors(connection)
    print(f"this machine: a query's round trip {round_trip:.0f} us, a committed one-row INSERT {commit:.0f} us "
          f"(synchronous_commit {args.synchronous_commit}): at most {1e6 / commit:,.0f} commits/s in one process")

    lanes = split_by_subject(calls, args.processes)
    load_before = os.getloadavg()[0]
    elapsed, results = raise_in_processes(lanes)
    opened, queries, cpu = (sum(r[i] for r in results) for i in range(3))
    rate = len(calls) / elapsed

    print(f"{len(calls):,} raises ({n_new:,} new, {len(calls) - n_new:,} repeats) by {len(lanes)} process(es): "
          f"{elapsed:.2f} s, {rate:,.0f} raises/s, {elapsed / len(calls) * 1000 * len(lanes):.2f} ms each per process, "
          f"{queries / len(calls):.1f} queries each (BEGIN/COMMIT not counted)")
    print(f"raising processes' CPU: {cpu / len(calls) * 1000:.2f} ms per raise; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    name = "exception_raises_per_second" + ("" if args.synchronous_commit == "on" else "_async_commit_diagnostic")
    print(f"FIGURE {name}: {rate:.0f} raises/s (budget >= {BUDGET} raises/s) {'PASS' if rate >= BUDGET else 'FAIL'}")

    raised = ExceptionCase.objects.exclude(subject_key__startswith="history:")
    rows = raised.aggregate(n=Count("pk"), occurrences=Sum("occurrences"))
    open_rows = raised.filter(status__in=OPEN_STATUSES).count()
    no_due = raised.filter(due_at__isnull=True).count()
    events = TimelineEvent.objects.filter(kind=EventKind.EXCEPTION_OPENED).count()
    with_customer = raised.filter(customer__isnull=False).count()
    checks = {"rows": (rows["n"], n_new), "opened": (opened, n_new), "open rows": (open_rows, n_new),
              "occurrences": (rows["occurrences"], len(calls)), "rows without a due time": (no_due, 0),
              "exception_opened events": (events, with_customer)}
    bad = {name: got for name, got in checks.items() if got[0] != got[1]}
    if bad:
        print("INTEGRITY ERROR (got, expected): " + "; ".join(f"{name} {got}" for name, got in bad.items()))
        return 1
    print(f"integrity: {n_new:,} exceptions, all open with a due time, {len(calls):,} occurrences counted, "
          f"one exception_opened event per exception with a customer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
