"""Figures: reconciliation (lifecycle.services.reconcile) on PostgreSQL, one process.

Budgets (issue 13): a full pass over 1,000,000 orders, each reported by the shop and the ERP, 1% of
them disagreeing past tolerance: ≤ 30 s; an incremental pass after 1,000 orders changed: ≤ 1 s.

What is measured, end to end through `reconcile()` as the command and the beat task call it: the
rules and mappings read, the one statement that finds every (order, system pair) breaking a rule,
the open mismatches read, and every `state_mismatch` opened, brought up to date or resolved through
the exception services (policy, owner-team queue, business-hours SLA, timeline event), committed.

- full pass: the first over the seeded orders: it opens one mismatch per disagreeing order (10,000
  at 1,000,000 orders), the most a full pass ever writes. A second full pass, with nothing changed,
  is printed beside it (it reads as much and writes nothing).
- incremental pass: 1,000 orders' ERP status changes (half start disagreeing, half of the disagreeing
  agree again: it opens 500 and resolves 500), then the beat's run compares what changed since.

Left out: seeding (INSERT … SELECT over generate_series, timed apart), ANALYZE after it, and
the ERP import that would have set the ERP's statuses. The ERP's meanings are registered here as
its integration will register them (an ERPNext-like vocabulary); the shop's are WooCommerce's defaults.

The database is a dedicated one, dropped and recreated on every run: BENCH_DATABASE_URL if set, else
the server of DATABASE_URL (when PostgreSQL) with "_bench_reconcile" added to the name, else
postgres://postgres@127.0.0.1:5432/aftercare_bench_reconcile. It never drops a database it did not name.

    .venv/bin/python benchmarks/bench_reconcile.py [--orders 1000000] [--changed 1000] [--disagree 1.0]

Exit status: 0 when the figures were measured (PASS or FAIL against the budgets), 1 on an error or
when the mismatches afterwards are not the disagreeing orders exactly.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database, seed_owned_customers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_BUDGET = 30.0  # seconds, 1,000,000 orders
INCREMENTAL_BUDGET = 1.0  # seconds, 1,000 changed orders
ORDERS_PER_CUSTOMER = 5
ERP_MEANINGS = {"Draft": "pending_payment", "On Hold": "on_hold", "To Deliver and Bill": "fulfilling",
                "To Deliver": "fulfilling", "To Bill": "delivered", "Completed": "completed",
                "Cancelled": "cancelled", "Closed": "cancelled"}

# Per 10,000 orders (by g % 10000): the first `disagree` percent disagree past tolerance, one rule
# after another; the rest agree. (shop status, ERP status, ERP total differs?)
DISAGREEING = [("processing", "Draft", False),  # paid, not released, for days
               ("completed", "To Deliver", False),  # completed, not delivered, for days
               ("processing", "Cancelled", False),  # the ERP cancelled it
               ("processing", "To Bill", False),  # delivered, the shop not completed, for days
               ("completed", "Completed", True)]  # totals apart
AGREEING = [("completed", "Completed"), ("completed", "To Bill"), ("processing", "To Deliver and Bill"),
            ("cancelled", "Cancelled"), ("refunded", "Cancelled"), ("pending", "Draft")]
SHOP_STATE = {"processing": "paid", "completed": "completed", "cancelled": "cancelled", "refunded": "refunded",
              "pending": "pending_payment"}


def seed(cursor, orders, disagree_per_10k, now):
    """Customers (each owned by a team), orders, and two source states per order; returns the ids of
    the disagreeing orders."""
    customers = max(1, orders // ORDERS_PER_CUSTOMER)
    p = {"now": now, "nc": customers, "no": orders, "d": disagree_per_10k}
    seed_owned_customers(cursor, customers, now - timedelta(days=400))
    # kind: 0..4 a disagreeing case (DISAGREEING), else 10 + an agreeing case (AGREEING).
    cursor.execute("""
        CREATE TEMP TABLE seed_plan AS
        SELECT g, (g - 1) %% %(nc)s + 1 AS customer,
               CASE WHEN g %% 10000 < %(d)s THEN (g %% 10000) %% 5 ELSE 10 + (abs(hashtext('k' || g)) %% 6) END AS kind,
               %(now)s - interval '3 days' - (abs(hashtext('t' || g)) %% 525600) * interval '1 minute' AS said,
               round((9.9 + abs(hashtext('p' || g)) %% 300)::numeric, 2) AS total
          FROM generate_series(1, %(no)s) g""", p)
    shop = "CASE kind " + " ".join(f"WHEN {k} THEN '{s}'" for k, (s, _, _) in enumerate(DISAGREEING)) + " " + " ".join(
        f"WHEN {10 + k} THEN '{s}'" for k, (s, _) in enumerate(AGREEING)) + " END"
    erp = "CASE kind " + " ".join(f"WHEN {k} THEN '{e}'" for k, (_, e, _) in enumerate(DISAGREEING)) + " " + " ".join(
        f"WHEN {10 + k} THEN '{e}'" for k, (_, e) in enumerate(AGREEING)) + " END"
    state = "CASE shop " + " ".join(f"WHEN '{raw}' THEN '{s}'" for raw, s in SHOP_STATE.items()) + " END"
    cursor.execute(f"""
        INSERT INTO lifecycle_order (id, system, namespace, external_id, number, currency, total, refunded_total,
                                     product_categories, placed_at, paid_at, state, state_changed_at, created_at,
                                     updated_at, customer_id)
        SELECT g, 'woocommerce', 'main', g::text, (100000 + g)::text, 'EUR', total, 0, '[]'::jsonb,
               said - interval '1 hour', said, {state}, said, said, said, customer
          FROM (SELECT *, {shop} AS shop FROM seed_plan) s""")
    cursor.execute(f"""
        INSERT INTO lifecycle_ordersourcestate (id, order_id, system, raw_status, observed_at, event_ref, received_at)
        SELECT g, g, 'woocommerce', {shop}, said, 'seed', said FROM seed_plan""")
    differs = "CASE WHEN kind = 4 THEN total + 1.00 ELSE total END"
    cursor.execute(f"""
        INSERT INTO lifecycle_ordersourcestate (id, order_id, system, raw_status, observed_at, event_ref, received_at,
                                                total)
        SELECT %(no)s + g, g, 'erp', {erp}, said + interval '10 minutes', 'seed', said + interval '10 minutes',
               {differs} FROM seed_plan""", p)
    for name in ("lifecycle_customer", "lifecycle_ownership", "lifecycle_order", "lifecycle_ordersourcestate"):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
    cursor.execute("SELECT g FROM seed_plan WHERE kind < 10 ORDER BY g")
    return [row[0] for row in cursor.fetchall()]


def change(cursor, disagreeing, changed, orders, now):
    """`changed` orders' ERP status changes now: half of the disagreeing agree again (the ERP releases
    or delivers, or cancels what the shop cancelled...), half of the agreeing start disagreeing (the
    ERP cancels an order the shop is processing). Returns (agreeing now, disagreeing now) among them."""
    half = changed // 2
    fixed = disagreeing[:: max(1, len(disagreeing) // half)][:half]
    bad_set, fixed_set = set(disagreeing), set(fixed)
    broken, g = [], 7
    while len(broken) < changed - len(fixed):
        g = (g + 997) % orders + 1
        if g not in bad_set and g not in broken:
            broken.append(g)
    # Agreeing again: the ERP says what the shop says (and its total), whatever it was.
    cursor.execute("""
        UPDATE lifecycle_ordersourcestate e
           SET raw_status = CASE w.raw_status WHEN 'completed' THEN 'Completed' ELSE 'To Deliver and Bill' END,
               total = o.total, observed_at = %s, received_at = %s
          FROM lifecycle_ordersourcestate w, lifecycle_order o
         WHERE e.system = 'erp' AND w.system = 'woocommerce' AND w.order_id = e.order_id AND o.id = e.order_id
           AND e.order_id = ANY(%s)""", [now, now, fixed])
    # Disagreeing at once: the shop says processing, the ERP cancelled it.
    cursor.execute("""UPDATE lifecycle_ordersourcestate
                         SET raw_status = 'processing', observed_at = %s - interval '1 minute'
                       WHERE system = 'woocommerce' AND order_id = ANY(%s)""", [now, broken])
    cursor.execute("""UPDATE lifecycle_ordersourcestate SET raw_status = 'Cancelled', observed_at = %s, received_at = %s
                       WHERE system = 'erp' AND order_id = ANY(%s)""", [now, now, broken])
    return fixed_set, set(broken)


def open_mismatch_orders():
    from lifecycle.models import OPEN_STATUSES, ExceptionCase

    return set(ExceptionCase.objects.filter(kind="state_mismatch", status__in=OPEN_STATUSES)
               .values_list("order_id", flat=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--disagree", type=float, default=1.0, help="percent of orders disagreeing")
    args = parser.parse_args()

    started = time.perf_counter()
    url = migrated_bench_database("bench_reconcile", "reconciliation")
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from lifecycle.actors import Actor
    from lifecycle.db import rows
    from lifecycle.models import Customer, Order, OrderSourceState, Ownership
    from lifecycle.services import reconcile as engine

    engine.status_meanings_register("erp", lambda: {"": ERP_MEANINGS})
    actor = Actor.task("reconcile_orders")
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        disagreeing = seed(cursor, args.orders, round(args.disagree * 100), now)
    rows.analyze(Customer, Ownership, Order, OrderSourceState)
    where = urlsplit(url)
    print(f"database: {where.hostname}:{where.port or 5432}{where.path} (PostgreSQL {connection.pg_version // 10000}), "
          f"DEBUG {'on' if settings.DEBUG else 'off'}, one process, {os.cpu_count()} CPUs")
    print(f"setup (create db, migrate, {args.orders:,} orders of {args.orders // ORDERS_PER_CUSTOMER:,} owned "
          f"customers, {2 * args.orders:,} source states, {len(disagreeing):,} disagreeing): "
          f"{time.perf_counter() - started:.1f} s (not counted)")

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    first = engine.reconcile(full=True, actor=actor)
    full = time.perf_counter() - t0
    print(f"full pass 1: {full:.2f} s; {first.outside:,} outside tolerance, {first.opened:,} mismatches opened "
          f"(load average {load:.1f} before)")
    t0 = time.perf_counter()
    second = engine.reconcile(full=True, actor=actor)
    print(f"full pass 2 (nothing changed): {time.perf_counter() - t0:.2f} s; {second.opened} opened, "
          f"{second.updated} updated, {second.resolved} resolved")
    integrity = open_mismatch_orders() == set(disagreeing) and second.opened == second.updated == 0

    with transaction.atomic(), connection.cursor() as cursor:
        agree, disagree = change(cursor, disagreeing, args.changed, args.orders, timezone.now())
    t0 = time.perf_counter()
    incremental = engine.reconcile(actor=actor)
    took = time.perf_counter() - t0
    print(f"incremental pass after {len(agree) + len(disagree):,} changed orders: {took:.3f} s; "
          f"{incremental.evaluated:,} orders compared, {incremental.opened:,} opened, "
          f"{incremental.resolved:,} resolved")
    expected = (set(disagreeing) - agree) | disagree
    integrity = integrity and open_mismatch_orders() == expected and (incremental.opened, incremental.resolved) == (
        len(disagree), len(agree))

    scale = f" at {args.orders:,} orders" if args.orders != 1_000_000 else ""
    print(f"FIGURE reconcile_full_pass: {full:.2f} s{scale} (budget <= {FULL_BUDGET:.0f} s) "
          f"{'PASS' if full <= FULL_BUDGET else 'FAIL'}")
    print(f"FIGURE reconcile_incremental_pass: {took:.3f} s after {args.changed:,} changed orders{scale} "
          f"(budget <= {INCREMENTAL_BUDGET:.0f} s) {'PASS' if took <= INCREMENTAL_BUDGET else 'FAIL'}")
    if not integrity:
        print("INTEGRITY ERROR: the open state_mismatch exceptions are not exactly the disagreeing orders")
        return 1
    print(f"integrity: the {len(expected):,} open state_mismatch exceptions are exactly the disagreeing orders")
    return 0


if __name__ == "__main__":
    sys.exit(main())
