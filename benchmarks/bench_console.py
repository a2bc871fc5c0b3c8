"""Figures: the support console on PostgreSQL at 200,000 customers, 1,000,000 orders, 1,000,000 exceptions.

Budgets (issue #5, "Figures"):
- customer screen of a customer with 500 orders and 5,000 timeline events: at most 15 SQL queries per
  request, whatever the history size (a small customer's count is printed beside it), and a server
  time p50 of at most 80 ms;
- queue pages, p50 at most 150 ms each: the agent home (/console/) and the exceptions changelist's team
  view (/admin/lifecycle/exceptioncase/?view=team) for an agent of the busiest team;
- manager dashboard, p50 at most 150 ms as users get it: the figures are cached 60 s per process, so
  its FIGURE is the served page over requests that start from an empty cache (the first of them
  recomputes); the cold recompute (?refresh=1) is printed beside it, without a budget;
- read API lookup by email (GET /api/v1/customers/?email=…, `Authorization: Token …`): p99 at most
  50 ms over 300 lookups of random existing emails, for an agent's token and a manager's; the FIGURE
  is the slower of the two.

Each request goes through Django's test Client in this process (middleware, session, template
rendering, DEBUG off; no network, no template instrumentation), timed from request to rendered
response, after warm-up requests. The query counts come from separate requests under
CaptureQueriesContext. On a shared machine the wall clock includes waiting for a CPU and for
PostgreSQL: the load average and this process's CPU time per request are printed with each page.
With a FAIL, the page's slowest queries are printed with EXPLAIN ANALYZE (also with --explain).

Data, seeded in bulk by benchmarks/console_seed.py (set-based SQL, ~2.5 minutes at full size, not
counted): see its docstring; 30% of the exceptions are open (--open-percent). Sizes are flags for a
quick run:

    .venv/bin/python benchmarks/bench_console.py                       # full size, ~4-6 minutes
    .venv/bin/python benchmarks/bench_console.py --customers 20000 --orders 100000 --exceptions 100000
    .venv/bin/python benchmarks/bench_console.py --reuse ...           # measure again without reseeding

The database is dropped and recreated on every run (unless --reuse): BENCH_DATABASE_URL if set, else
the server of DATABASE_URL (when PostgreSQL) with "_bench_console" added to the database name, else
postgres://postgres@127.0.0.1:5432/aftercare_bench_console. It never drops a database whose name lacks
"bench".

Exit status: 0 when the figures were measured (PASS or FAIL against the budgets), 1 on an error
(a page answering other than 200, a lookup not finding its customer, a missing table).
"""

import argparse
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import bench_url, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import console_seed  # noqa: E402  (benchmarks/ is on the path when this script runs)

QUERY_BUDGET = 15
SCREEN_BUDGET_MS = 80
QUEUE_BUDGET_MS = 150
DASHBOARD_BUDGET_MS = 150
API_BUDGET_MS = 50
WARMUP = 5
CAP_SECONDS = 25  # per page: a slow page is timed over fewer requests (at least MIN_REQUESTS)
MIN_REQUESTS = 10
EXPLAIN_FROM_MS = 5  # on a FAIL, EXPLAIN ANALYZE the page's slowest queries taking at least this


def parse_args(argv):
    d = console_seed.Sizes()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=d.customers)
    parser.add_argument("--orders", type=int, default=d.orders)
    parser.add_argument("--exceptions", type=int, default=d.exceptions)
    parser.add_argument("--agents", type=int, default=d.agents)
    parser.add_argument("--open-percent", type=int, default=d.open_percent, help="share of exceptions still open")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--lookups", type=int, default=300, help="timed API lookups per token")
    parser.add_argument("--reuse", action="store_true", help="measure the database a previous run seeded")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest queries")
    return parser.parse_args(argv)


# --- measuring --------------------------------------------------------------------------------------
def p50(times):
    return statistics.median(times)


def p99(times):
    return sorted(times)[max(0, math.ceil(0.99 * len(times)) - 1)]  # nearest rank


def load():
    return os.getloadavg()[0]


class Failure(Exception):
    pass


def get(client, url, **headers):
    response = client.get(url, **headers)
    if response.status_code != 200:
        raise Failure(f"GET {url} answered {response.status_code}")
    return response


class DatabaseClock:
    """Time spent inside cursor.execute (the driver's round trip: PostgreSQL's work and the wire)."""

    def __init__(self):
        self.ms = 0.0

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - t) * 1000


def timed(client, urls, n, warmup=WARMUP, cap_s=CAP_SECONDS, check=None, **headers):
    """Wall times in ms of n requests (cycling through `urls`) after `warmup` (fewer when they pass
    cap_s seconds, at least MIN_REQUESTS), with this process's CPU ms and the database ms per request.
    `check(response)` runs after each timed request, outside its time."""
    from django.db import connection

    urls = [urls] if isinstance(urls, str) else list(urls)
    for i in range(warmup):
        get(client, urls[i % len(urls)], **headers)
    times = []
    clock = DatabaseClock()
    cpu0, started = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(clock):
        for i in range(n):
            t = time.perf_counter()
            response = get(client, urls[i % len(urls)], **headers)
            times.append((time.perf_counter() - t) * 1000)
            if check:
                check(response)
            if cap_s and len(times) >= MIN_REQUESTS and time.perf_counter() - started > cap_s:
                break
    return Timing(times, (time.process_time() - cpu0) * 1000 / len(times), clock.ms / len(times))


@dataclass
class Timing:
    times: list
    cpu_ms: float  # this process's CPU per request
    db_ms: float  # inside cursor.execute per request

    @property
    def p50(self):
        return p50(self.times)


def profile(client, url, label, requests=5, top=10, **headers):
    """Where this process's time goes for a page: cProfile over a few requests, the functions with the
    most own time, and the project's own functions (and template rendering) by cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        get(client, url, **headers)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}

    def where(key):
        path, line, name = key
        path = path.replace(str(ROOT) + "/", "").replace(sys.prefix + "/lib/", "")
        return f"{path}:{line}({name})" if line else name

    def show(title, rows):
        print(f"    {title}")
        for key, (_, calls, own, cumulative, _) in rows[:top]:
            print(f"      {own * 1000 / requests:7.1f} ms own {cumulative * 1000 / requests:7.1f} ms cumulative "
                  f"{calls / requests:8.0f} calls  {where(key)[:120]}")

    print(f"  {label}: cProfile over {requests} requests (per request; profiling slows everything down):")
    show("most own time:", sorted(stats.items(), key=lambda item: -item[1][2]))
    ours = [item for item in stats.items()
            if item[0][0].startswith(str(ROOT)) and "/.venv/" not in item[0][0] and "/benchmarks/" not in item[0][0]]
    rendering = [item for item in stats.items() if item[0][0].endswith("django/template/base.py")
                 and item[0][2] == "render"]
    show("project code by cumulative time, and the outermost template rendering:",
         sorted(ours + sorted(rendering, key=lambda item: -item[1][3])[:1], key=lambda item: -item[1][3]))
    templates(client, url, **headers)


def templates(client, url, top=10, **headers):
    """The templates one request renders: how often, and their time including what they include."""
    from collections import Counter

    from django.template import base

    calls, spent = Counter(), Counter()
    original = base.Template.render

    def render(self, context):
        t = time.perf_counter()
        try:
            return original(self, context)
        finally:
            name = getattr(self.origin, "template_name", None) or "?"
            calls[name] += 1
            spent[name] += (time.perf_counter() - t) * 1000

    base.Template.render = render
    try:
        get(client, url, **headers)
    finally:
        base.Template.render = original
    print(f"    templates rendered by one request: {sum(calls.values())}; the costliest (time includes their includes):")
    for name, ms in spent.most_common(top):
        print(f"      {ms:7.1f} ms {calls[name]:5d}x  {name}")


def captured(client, url, **headers):
    """The queries one request runs: [(sql, ms)], and the response."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = get(client, url, **headers)
    return [(q["sql"], float(q["time"]) * 1000) for q in ctx.captured_queries], response


def report(label, timing, load_before):
    times = timing.times
    print(f"{label}: p50 {p50(times):.1f} ms, p90 {sorted(times)[int(0.9 * (len(times) - 1))]:.1f}, "
          f"p99 {p99(times):.1f}, min {min(times):.1f}, max {max(times):.1f} over {len(times)} requests; "
          f"per request: this process's CPU {timing.cpu_ms:.1f} ms, in the database driver {timing.db_ms:.1f} ms; "
          f"load {load_before:.1f} -> {load():.1f}")


def figure(name, value, unit, budget, op="<="):
    ok = value <= budget if op == "<=" else value >= budget
    shown = f"{value:.1f}" if isinstance(value, float) else str(value)
    print(f"FIGURE {name}: {shown} {unit} (budget {op} {budget} {unit}) {'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def diagnose(client, url, label, queries, timing=None, explain=False, top=3, **headers):
    """Why a page is slow: its slowest queries (EXPLAIN ANALYZE of those over EXPLAIN_FROM_MS, of all
    `top` with --explain) and, when the database is under half of the time, a profile of this process."""
    from django.db import connection, transaction

    jit_off = any("SET LOCAL jit" in sql for sql, _ in queries)
    ranked = sorted(((ms, i, sql) for i, (sql, ms) in enumerate(queries)), reverse=True)[:top]
    total = sum(ms for _, ms in queries)
    print(f"  {label}: {len(queries)} queries, {total:.0f} ms in the database driver (ms resolution); slowest:")
    for ms, i, sql in ranked:
        print(f"    #{i + 1} {ms:.0f} ms: {sql[:400]}{'…' if len(sql) > 400 else ''}")
        if "$1" in sql:  # bound on the server (rows.prepared_reads): the log keeps no parameters to explain it with
            print(f"    (#{i + 1} was bound on the server: run it by hand to EXPLAIN it)")
        elif (explain or ms >= EXPLAIN_FROM_MS) and sql.lstrip().upper().startswith("SELECT"):
            with transaction.atomic(), connection.cursor() as cursor:
                if jit_off:
                    cursor.execute("SET LOCAL jit = off")  # as the page ran it
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                plan = "\n".join(f"      {row[0]}" for row in cursor.fetchall())
            print(f"    EXPLAIN ANALYZE #{i + 1} (jit {'off, as the page sets it' if jit_off else 'as configured'}):"
                  f"\n{plan}")
    if timing is not None and timing.db_ms < timing.p50 / 2:
        profile(client, url, label, **headers)


# --- the run ----------------------------------------------------------------------------------------
def pick_agent():
    """The agent of the busiest team queue (most open exceptions) holding the most open items in it."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("""SELECT queue_id, count(*) FROM lifecycle_exceptioncase
                     WHERE status IN ('open', 'in_progress') AND queue_id IS NOT NULL
                     GROUP BY queue_id ORDER BY 2 DESC LIMIT 1""")
        team_id, open_in_queue = c.fetchone()
        c.execute("""SELECT at.agent_id, count(e.id) FROM lifecycle_agent_teams at
                     LEFT JOIN lifecycle_exceptioncase e ON e.assignee_id = at.agent_id
                          AND e.status IN ('open', 'in_progress')
                     WHERE at.team_id = %s GROUP BY at.agent_id ORDER BY 2 DESC, 1 LIMIT 1""", [team_id])
        agent_id, held = c.fetchone()
        c.execute("SELECT count(*) FROM lifecycle_ownership WHERE agent_id = %s", [agent_id])
        owned = c.fetchone()[0]
        c.execute("SELECT name FROM lifecycle_team WHERE id = %s", [team_id])
        team = c.fetchone()[0]
    return agent_id, {"team": team, "open_in_queue": open_in_queue, "held": held, "owned": owned}


def counts():
    from django.db import connection

    tables = ["customer", "order", "ordersourcestate", "exceptioncase", "timelineevent", "handoff",
              "customeridentity", "agent"]
    with connection.cursor() as c:
        c.execute(" UNION ALL ".join(f"SELECT '{t}', count(*) FROM lifecycle_{t}" for t in tables))
        rows = dict(c.fetchall())
        c.execute("SELECT count(*) FROM lifecycle_exceptioncase WHERE status IN ('open', 'in_progress')")
        rows["open exceptions"] = c.fetchone()[0]
    return rows


def measure(args, customers):
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from rest_framework.authtoken.models import Token

    from lifecycle.models import Agent, Customer

    explain = args.explain
    results = []  # FIGURE outcomes
    manager = User.objects.get(username="bench-manager")
    agent_id, busy = pick_agent()
    agent = Agent.objects.select_related("user").get(pk=agent_id)
    big = Customer.objects.get(email=console_seed.BIG_EMAIL)
    history = (big.orders.count(), big.timeline.count(), big.exceptions.count())
    small = Customer.objects.get(pk=1)
    print(f"big customer #{big.pk}: {history[0]} orders, {history[1]} timeline events, {history[2]} exceptions; "
          f"agent {agent.user.username} of the busiest team queue ({busy['team']}: {busy['open_in_queue']:,} open), "
          f"holding {busy['held']:,} open exceptions, owning {busy['owned']:,} customers")

    mclient = Client()
    mclient.force_login(manager)
    aclient = Client()
    aclient.force_login(agent.user)
    n = args.requests

    # 1. Customer screen -------------------------------------------------------------------------------
    print("\n-- customer screen (manager)")
    big_url = reverse("console:customer", args=[big.pk])
    small_url = reverse("console:customer", args=[small.pk])
    get(mclient, big_url)  # first render: template loading, URL resolver, permission cache
    big_queries, response = captured(mclient, big_url)
    if console_seed.BIG_NAME.encode() not in response.content:
        raise Failure("the customer screen does not show the big customer's name")
    small_queries, _ = captured(mclient, small_url)
    print(f"queries per request: {len(big_queries)} for the big customer "
          f"({history[0]} orders, {history[1]} events, {history[2]} exceptions), {len(small_queries)} for "
          f"customer #{small.pk} ({small.orders.count()} orders, {small.timeline.count()} events, "
          f"{small.exceptions.count()} exceptions)")
    before = load()
    timing = timed(mclient, big_url, n)
    report("big customer", timing, before)
    before = load()
    small_timing = timed(mclient, small_url, max(MIN_REQUESTS, n // 2))
    report(f"small customer #{small.pk} (informational)", small_timing, before)
    worst = max(len(big_queries), len(small_queries))
    ok_q = figure("console_customer_screen_queries", worst, "queries", QUERY_BUDGET)
    ok_t = figure("console_customer_screen_p50", timing.p50, "ms", SCREEN_BUDGET_MS)
    results += [ok_q, ok_t]
    if not (ok_q and ok_t) or explain:
        diagnose(mclient, big_url, "big customer screen", big_queries, timing, explain)

    # 2. Queue pages -----------------------------------------------------------------------------------
    print(f"\n-- queue pages (agent {agent.user.username})")
    changelist = reverse("admin:lifecycle_exceptioncase_changelist")
    pages = [("agent home /console/", reverse("console:home"), "console_home_p50"),
             ("exceptions changelist ?view=team", changelist + "?view=team", "console_queue_page_p50"),
             ("exceptions changelist ?view=mine", changelist + "?view=mine", None)]
    for label, url, name in pages:
        get(aclient, url)
        queries, _ = captured(aclient, url)
        before = load()
        timing = timed(aclient, url, n)
        report(f"{label} ({len(queries)} queries)", timing, before)
        if name:
            ok = figure(name, timing.p50, "ms", QUEUE_BUDGET_MS)
            results.append(ok)
        else:
            ok = timing.p50 <= QUEUE_BUDGET_MS
            print(f"  (informational, no FIGURE line: {'within' if ok else 'over'} the {QUEUE_BUDGET_MS} ms budget)")
        if not ok or explain:
            diagnose(aclient, url, label, queries, timing, explain)

    # 3. Dashboard ---------------------------------------------------------------------------------------
    print("\n-- manager dashboard")
    url = reverse("console:dashboard")
    refresh = url + "?refresh=1"
    get(mclient, refresh)  # warm: templates, the first planning of each query
    before = load()
    cold = timed(mclient, refresh, max(3, n // 10), warmup=0)
    report("cold recompute ?refresh=1 (informational, no budget)", cold, before)
    cache.clear()
    before = load()
    served = timed(mclient, url, n, warmup=0)
    report(f"served as users get it, starting from an empty cache (the 1st request recomputed, "
           f"{served.times[0]:.0f} ms; the others within its 60 s)", served, before)
    results.append(figure("console_dashboard_p50", served.p50, "ms", DASHBOARD_BUDGET_MS))
    if explain or served.p50 > DASHBOARD_BUDGET_MS:
        queries, _ = captured(mclient, refresh)
        diagnose(mclient, refresh, "dashboard ?refresh=1", queries, None, explain, top=9)

    # 4. API lookup by email ---------------------------------------------------------------------------
    print("\n-- API customer lookup by email")
    rng = random.Random(5)
    api = reverse("api:customer-list")
    urls = [f"{api}?email=c{rng.randint(1, customers)}%40example.com" for _ in range(args.lookups)]
    worst = None
    for label, user in (("agent token", agent.user), ("manager token", manager)):
        token, _ = Token.objects.get_or_create(user=user)
        header = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
        client = Client()  # no session: the token authenticates each request
        queries, _ = captured(client, urls[0], **header)
        found = []
        before = load()
        timing = timed(client, urls, len(urls), warmup=20, cap_s=None,
                       check=lambda response: found.append(len(response.json()["results"])), **header)
        report(f"{label} ({len(queries)} queries; {sum(found)} of {len(urls)} lookups found a customer "
               f"the token's user may see)", timing, before)
        if label == "manager token" and sum(found) != len(urls):
            raise Failure(f"the manager's lookups found {sum(found)} customers for {len(urls)} existing emails")
        if worst is None or p99(timing.times) >= p99(worst[1].times):
            worst = (label, timing)
        if p99(timing.times) > API_BUDGET_MS or explain:
            diagnose(client, urls[0], f"API lookup ({label})", queries, None, explain, **header)
    print(f"(the FIGURE is the slower p99 of the two: the {worst[0]}'s)")
    results.append(figure("api_customer_lookup_p99", p99(worst[1].times), "ms", API_BUDGET_MS))
    connection.close()
    return results


def main(argv):
    args = parse_args(argv)
    url = bench_url("bench_console")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    # Measured as deployed: DEBUG off (with it on, Django keeps every query's SQL in memory).
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    started = time.perf_counter()
    if not args.reuse:
        # Seeding only: asynchronous commit, the database is thrown away after the run anyway.
        recreate_database(url, synchronous_commit="off")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        print(f"ERROR: the console figures need PostgreSQL, got {connection.vendor}")
        return 1
    where = urlsplit(url)
    print(f"database: {where.hostname}:{where.port or 5432}{where.path} (PostgreSQL {connection.pg_version // 10000}), "
          f"DEBUG {'on' if settings.DEBUG else 'off'}, one process, {os.cpu_count()} CPUs, load {load():.1f}")
    sizes = console_seed.Sizes(customers=args.customers, orders=args.orders, exceptions=args.exceptions,
                               agents=args.agents, open_percent=args.open_percent)
    if not args.reuse:
        call_command("migrate", verbosity=0)
        print(f"seeding {sizes}")
        console_seed.seed(connection, sizes, timezone.now())
    rows = counts()
    print("rows: " + ", ".join(f"{name} {value:,}" for name, value in rows.items()))
    print(f"setup: {time.perf_counter() - started:.0f} s (not counted)")
    load_before, cpu0 = load(), time.process_time()
    try:
        results = measure(args, rows["customer"] - 1)  # the seeded ones, not the big customer
    except Failure as error:
        print(f"ERROR: {error}")
        return 1
    print(f"\nmeasuring: load average {load_before:.1f} before, {load():.1f} after; this process's CPU "
          f"{time.process_time() - cpu0:.1f} s; {sum(results)} of {len(results)} figures within budget; "
          f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
