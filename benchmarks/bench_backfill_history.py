"""Figure: a backfill's cost per order must not grow with the customers' history, on PostgreSQL.

Two REST backfills of 20,000 orders each from the sandbox store into an empty console (a fresh
database each, in a process of its own): one where every customer has 2 orders, one where every
customer has 50. The orders are the sandbox generator's (create_order for a registered customer,
the gateway picking the status, 70% of the paid ones completed later), the customers' orders
shuffled over time, so each page of 100 touches many customers that already have orders.

Budget: apply time per order with 50 orders a customer <= 1.3 x the one with 2. Apply time is
the backfill's wall time minus the time spent waiting for the sandbox (HTTP requests, measured
by the client): the fetch costs the same per order whatever the history, and would only dilute
the ratio. The end-to-end cost (fetch included) and its ratio are printed beside it. Left out:
generating the shop, creating and migrating the database, guests (every order is a registered
customer's, matched by id), and a remote shop's round trip.

The database is dedicated, dropped and recreated for each run: BENCH_DATABASE_URL if set, else the
server of DATABASE_URL (when it is PostgreSQL) with "_bench_backfill_history" added to the database
name, else postgres://postgres@127.0.0.1:5432/aftercare_bench_backfill_history.

Exit status: 0 when the figure was measured (PASS or FAIL), 1 on an error or when the console's
orders or customers do not match the sandbox's.

    .venv/bin/python benchmarks/bench_backfill_history.py [--orders 20000] [--few 2] [--many 50]
"""

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORDERS, FEW, MANY = 20_000, 2, 50
BUDGET = 1.3  # apply time per order, MANY orders a customer over FEW (issue: cost must not grow with history)
PROGRESS_EVERY = 50  # pages between progress lines
COMPLETED = 0.7  # share of the paid orders completed later (a second modification, later in the scan)


def build_shop(orders, per_customer, seed):
    """A sandbox shop whose `orders // per_customer` registered customers have `per_customer` orders each."""
    from integrations.woocommerce.sandbox import SandboxStore

    customers = orders // per_customer
    shop = SandboxStore(seed=seed, orders=0, customers=customers, consumer_key="ck_bench",
                        consumer_secret="cs_bench", now="2025-05-01T08:00:00")
    rng = random.Random(f"history-{seed}")
    buyers = [cid for cid in shop.customers for _ in range(per_customer)]
    rng.shuffle(buyers)  # each customer's orders spread over the whole history
    for cid in buyers:
        shop.clock.advance(rng.randint(1, 60))
        shop.create_order(customer_id=cid)
    paid = shop.order_ids_with_status("processing")
    for oid in rng.sample(paid, int(len(paid) * COMPLETED)):
        shop.clock.advance(rng.randint(1, 30))
        shop.complete(oid)
    return shop


def timed_backfill(store, label):
    """store_backfill() with the sandbox's fetch time measured by the client; returns (run, seconds,
    fetch seconds, per-page marks (seconds, fetch seconds, orders) since the start)."""
    from integrations.woocommerce.backfill import store_backfill
    from integrations.woocommerce.client import StoreClient
    from lifecycle.actors import Actor

    client, marks = StoreClient(store), [(0.0, 0.0, 0)]

    def progress(p):
        marks.append((time.perf_counter() - started, client.http_seconds, p.run.orders_seen))
        if p.page % PROGRESS_EVERY == 0:
            print(f"  {label}: page {p.page}/{p.total_pages}, {p.run.orders_seen:,} orders", flush=True)

    started = time.perf_counter()
    run = store_backfill(store=store, actor=Actor.task("bench"), progress=progress, client=client)
    total = time.perf_counter() - started
    if run.status != "succeeded":
        raise RuntimeError(f"{label} failed: {run.error}")
    return run, total, client.http_seconds, marks


def by_quarter(marks):
    """Apply time per order (ms) over each quarter of the pages: does it grow as histories do?"""
    cuts = [marks[round(i * (len(marks) - 1) / 4)] for i in range(5)]
    return [((b[0] - a[0]) - (b[1] - a[1])) / max(b[2] - a[2], 1) * 1000 for a, b in zip(cuts, cuts[1:])]


def one(orders, per_customer, seed):
    """One backfill in a fresh database; prints a RESULT line (JSON) for the parent."""
    from bench_wc_backfill import setup_agents

    started = time.perf_counter()
    url = migrated_bench_database("bench_backfill_history", "history backfill")
    from django.db import connection

    from integrations.stores import store_connect
    from lifecycle.actors import Actor
    from lifecycle.models import Customer, Order

    setup_agents()
    generated = time.perf_counter()
    shop = build_shop(orders, per_customer, seed)
    generated = time.perf_counter() - generated
    shop.start()
    try:
        store = store_connect(name="Bench Shop", slug="bench", base_url=shop.url, consumer_key="ck_bench",
                              consumer_secret="cs_bench", webhook_secret="whsec", actor=Actor.system("bench"))
        print(f"database: {urlsplit(url)._replace(netloc=urlsplit(url).hostname or '').geturl()} "
              f"(PostgreSQL {connection.pg_version // 10000})")
        print(f"setup (fresh db, migrate, agents, shop of {len(shop.orders):,} orders for {len(shop.customers):,} "
              f"customers generated in {generated:.1f} s): {time.perf_counter() - started:.1f} s (not counted)")
        run, total, http, marks = timed_backfill(store, f"{per_customer} a customer")
    finally:
        shop.stop()
    n = run.orders_seen
    apply = total - http
    print(f"backfill, {per_customer} orders a customer: {n:,} orders on {run.pages} pages in {total:.1f} s "
          f"({run.applied:,} applied, {run.failed} failed); sandbox fetch {http:.1f} s; "
          f"apply {apply:.1f} s = {apply / n * 1000:.2f} ms an order ({n / apply:.0f} orders/s); "
          f"end to end {total / n * 1000:.2f} ms an order ({n / total:.0f} orders/s)")
    print("  apply per order by quarter of the pages: "
          + " / ".join(f"{ms:.2f}" for ms in by_quarter(marks)) + " ms")
    in_console = Order.objects.filter(namespace="bench").count()
    customers = Customer.objects.count()
    ok = in_console == len(shop.orders) == n and run.applied == n and customers == len(shop.customers)
    print(f"  integrity: {in_console:,} orders in the console for {len(shop.orders):,} in the shop, "
          f"{customers:,} customers for {len(shop.customers):,}" + ("" if ok else " MISMATCH"))
    print("RESULT " + json.dumps({"orders": n, "apply": apply, "total": total, "ok": ok}), flush=True)
    return 0 if ok else 1


def child(args, per_customer):
    """Run one backfill in its own process (a fresh database, Django set up afresh); its RESULT."""
    argv = [sys.executable, "-u", __file__, "--one", str(per_customer), "--orders", str(args.orders),
            "--seed", str(args.seed)]
    result = None
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                sys.stdout.write("  " + line)
                sys.stdout.flush()
    if proc.returncode or result is None:
        print(f"ERROR: the run with {per_customer} orders a customer failed (exit {proc.returncode})")
        return None
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=ORDERS)
    parser.add_argument("--few", type=int, default=FEW, help="orders a customer in the first run")
    parser.add_argument("--many", type=int, default=MANY, help="orders a customer in the second run")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one run, in this process
    args = parser.parse_args()
    if args.one:
        return one(args.orders, args.one, args.seed)

    results = {}
    for k in (args.few, args.many):
        print(f"run: {args.orders:,} orders, {k} a customer", flush=True)
        results[k] = child(args, k)
        if results[k] is None:
            return 1
    few, many = results[args.few], results[args.many]
    cost = {k: (r["apply"] / r["orders"] * 1000, r["total"] / r["orders"] * 1000) for k, r in results.items()}
    ratio, ratio_total = cost[args.many][0] / cost[args.few][0], cost[args.many][1] / cost[args.few][1]
    print(f"apply per order: {cost[args.few][0]:.2f} ms with {args.few} orders a customer, "
          f"{cost[args.many][0]:.2f} ms with {args.many}: {ratio:.2f} x")
    print(f"end to end per order (sandbox fetch included, for reference): {cost[args.few][1]:.2f} ms, "
          f"{cost[args.many][1]:.2f} ms: {ratio_total:.2f} x")
    print("left out: generating the shop, creating and migrating the database, guests (every order is a "
          "registered customer's), a remote shop's round trip")
    print(f"FIGURE backfill_history_cost_ratio: {ratio:.2f} x (budget <= {BUDGET} x) "
          f"{'PASS' if ratio <= BUDGET else 'FAIL'}")
    return 0 if few["ok"] and many["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
