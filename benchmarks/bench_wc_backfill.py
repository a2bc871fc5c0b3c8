"""Figure: REST backfill of 20,000 orders from the sandbox store, 100 a page, on PostgreSQL.

Budget: >= 500 orders/s end to end, as a user sees it: the whole store_backfill() into an empty
console (every order created: customer, identities, owner, timeline), through the same order_apply
as webhooks, *including* the time spent waiting for the shop. The shop is the sandbox's HTTP server
on loopback (a thread of this process, reached through the real client: OAuth-signed GETs, JSON
decoding), as a real shop would be reached. The apply-only rate (that fetch time, measured by the
client, taken out) is printed beside it for reference. Left out of both: generating the shop's data,
creating and migrating the database, and a remote shop's network round trip and server time (the
sandbox answers from memory on loopback). A second pass from the beginning (a repair: every order
already there, so every one stale) is printed as well, without a budget.

The database is dedicated, dropped and recreated on every run: BENCH_DATABASE_URL if set, else the
server of DATABASE_URL (when it is PostgreSQL) with "_bench_backfill" added to the database name,
else postgres://postgres@127.0.0.1:5432/aftercare_bench_backfill. It never drops the application's own.

Exit status: 0 when the figure was measured (PASS or FAIL), 1 on an error or when the console's
orders do not match the sandbox's afterwards (missing, duplicated or in the wrong state).

    .venv/bin/python benchmarks/bench_wc_backfill.py [orders]
"""

import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORDERS = 20_000
BUDGET = 500  # orders per second end to end, sandbox fetch time included (issue 3, "Figures")
TEAMS = {"commerce": 3, "support": 3, "success": 4}  # agents, so new customers get an owner as in production
PROGRESS_EVERY = 50  # pages between progress lines: four lines for 20,000 orders


def setup_agents():
    from django.contrib.auth.models import User

    from lifecycle.models import Agent, Team

    for slug, count in TEAMS.items():
        team = Team.objects.get(slug=slug)
        for n in range(count):
            user = User.objects.create_user(f"bench-{slug}-{n}", is_staff=True)
            # A capacity no one reaches: routing must not leave customers unowned mid-benchmark.
            Agent.objects.create(user=user, capacity=30_000).teams.add(team)


def timed_backfill(store, label, since=None):
    from integrations.woocommerce.backfill import store_backfill
    from integrations.woocommerce.client import StoreClient
    from lifecycle.actors import Actor

    def progress(p):
        if p.page % PROGRESS_EVERY == 0:
            print(f"  {label}: page {p.page}/{p.total_pages}, {p.run.orders_seen:,} orders", flush=True)

    client = StoreClient(store)
    started = time.perf_counter()
    run = store_backfill(store=store, since=since, actor=Actor.task("bench"), progress=progress, client=client)
    total = time.perf_counter() - started
    if run.status != "succeeded":
        raise RuntimeError(f"{label} failed: {run.error}")
    return run, total, client.http_seconds, client.requests


def check_integrity(sandbox):
    """Every order the sandbox lists is in the console once, in the state its status maps to."""
    from integrations.woocommerce.mappers import DEFAULT_STATUS_MAP, map_order
    from lifecycle.models import Order, OrderSourceState

    expected = {}
    for order_id in list(sandbox.orders):
        data = map_order(sandbox.get_order(order_id), store_slug="bench", status_map=DEFAULT_STATUS_MAP)
        if data.raw_status != "trash" and data.canonical_state:
            expected[str(order_id)] = data.canonical_state
    actual = dict(Order.objects.filter(namespace="bench").values_list("external_id", "state"))
    wrong = [k for k in expected if actual.get(k) != expected[k]]
    extra = set(actual) - set(expected)
    sources = OrderSourceState.objects.count()
    ok = not wrong and not extra and sources == len(expected)
    print(f"integrity: {len(actual):,} orders in the console for {len(expected):,} expected; "
          f"{len(wrong)} missing or in the wrong state, {len(extra)} unexpected, {sources:,} source states"
          + ("" if ok else f" (first wrong: {wrong[:5]})"))
    return ok


def main(orders=ORDERS):
    started = time.perf_counter()
    url = migrated_bench_database("bench_backfill", "backfill")
    from django.db import connection

    from integrations.stores import store_connect
    from integrations.woocommerce.sandbox import SandboxStore
    from lifecycle.actors import Actor

    setup_agents()
    generated = time.perf_counter()
    sandbox = SandboxStore(seed=1, orders=orders, consumer_key="ck_bench", consumer_secret="cs_bench",
                           now="2025-06-01T12:00:00")
    generated = time.perf_counter() - generated
    sandbox.start()
    try:
        store = store_connect(name="Bench Shop", slug="bench", base_url=sandbox.url, consumer_key="ck_bench",
                              consumer_secret="cs_bench", webhook_secret="whsec", actor=Actor.system("bench"))
        print(f"database: {urlsplit(url)._replace(netloc=urlsplit(url).hostname or '').geturl()} "
              f"(PostgreSQL {connection.pg_version // 10000})")
        print(f"setup (create db, migrate, agents, sandbox of {orders:,} orders generated in {generated:.1f} s): "
              f"{time.perf_counter() - started:.1f} s (not counted)")

        run, total, http, requests = timed_backfill(store, "backfill")
        processing = total - http
        n = run.orders_seen
        rate = n / total
        print(f"backfill: {n:,} orders on {run.pages} pages ({requests} requests) in {total:.1f} s: "
              f"{run.applied:,} applied, {run.ignored:,} ignored, {run.stale:,} stale, {run.failed:,} failed")
        print(f"  sandbox fetch (HTTP request + JSON decoding, by the client): {http:.1f} s "
              f"({http / max(requests, 1) * 1000:.0f} ms a request, {http / n * 1000:.2f} ms an order)")
        print(f"  apply only (fetch left out, for reference): {processing:.1f} s = {n / processing:.0f} orders/s, "
              f"{processing / n * 1000:.2f} ms an order")
        print(f"  end to end (fetch included): {total:.1f} s = {rate:.0f} orders/s, {total / n * 1000:.2f} ms an order")
        print("  left out: generating the shop's data, creating and migrating the database, a remote shop's "
              "round trip and server time (the sandbox answers from memory on loopback)")
        print(f"FIGURE backfill_orders_per_second: {rate:.0f} orders/s (budget >= {BUDGET} orders/s) "
              f"{'PASS' if rate >= BUDGET else 'FAIL'}")

        repair, total, http, _ = timed_backfill(store, "repair", since=_first_modified(sandbox))
        print(f"repair pass (everything again, all stale): {repair.orders_seen:,} orders, {repair.stale:,} stale, "
              f"{repair.applied} applied; end to end {total:.1f} s = {repair.orders_seen / total:.0f} orders/s; "
              f"apply only {(total - http):.1f} s = {repair.orders_seen / (total - http):.0f} orders/s; "
              f"sandbox fetch {http:.1f} s")
        ok = check_integrity(sandbox) and repair.applied == 0
    finally:
        sandbox.stop()
    return 0 if ok else 1


def _first_modified(sandbox):
    from integrations.woocommerce.fields import parse_gmt

    return parse_gmt(min(o["date_modified_gmt"] for o in sandbox.orders.values()))


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else ORDERS))
