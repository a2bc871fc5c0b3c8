"""Figures: the ERP import (integrations/erp) of a large ERPNext export on PostgreSQL.

Budgets (issue 13):
- a 100,000-row ERPNext-style CSV, validated and applied end to end: ≤ 20 s;
- its rows/s ≥ 10× django-import-export's default row-by-row import (the ERPNext profile's resource,
  integrations/erp/resources.py) of a 2,000-row sample of the same export, measured in the same run;
- peak RSS of the importing process ≤ 300 MB.

What is measured:
- the import: `python manage.py import_erp FILE` (no --dry-run) as operations run it, a process of its
  own: Django's start, the file hashed, read and checked row by row (the first pass, which keeps each
  valid order's facts for the second instead of parsing the file again), then applied a thousand orders
  per transaction through the domain's one path (orders_observe: each order's ERP source state, its
  canonical state re-derived, timeline events, the customers following their orders (a tenth of them
  churn and are handed over), the ERP's records), by two appliers side by side (integrations/erp/
  applying.py), committed. Its wall time from the parent, its peak RSS from the kernel (getrusage of
  the finished child).
- the baseline: the same kind of rows (2,000 other orders of the export's layout), imported in this
  process by django-import-export's `import_data(dry_run=False)` with the ERPNext resource, one row
  at a time (each row checked, observed as a batch of one, its record saved).
Every row names a shop order the console has (seeded), one row per order (ERPNext's line rows are not
repeated: the row-by-row resource cannot fold them), each with its own modification time, statuses spread over ERPNext's combinations (half
to deliver, a fifth delivered, a fifth completed, a tenth cancelled), each newer than the shop's word.

Left out: seeding the shop's 102,000 orders (INSERT … SELECT, timed apart), writing the CSV, the
incremental reconciliation the import queues for the worker afterwards (its own figure is
bench_reconcile's), and the preview (a dry run reads the file once and applies nothing).

The database is a dedicated one, dropped and recreated on every run (benchdb.py).

    .venv/bin/python benchmarks/bench_erp_import.py [--rows 100000] [--sample 2000]

Exit status: 0 when the figures were measured (PASS or FAIL), 1 on an error or when the import did not
apply every row.
"""

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchdb import migrated_bench_database, seed_owned_customers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIME_BUDGET = 20.0  # seconds for 100,000 rows
SPEEDUP_BUDGET = 10.0  # × the row-by-row rows/s
RSS_BUDGET = 300.0  # MB
HEADER = ["ID", "Series", "Customer", "Order Type", "Date", "Customer's Purchase Order", "Company", "Contact Email",
          "Currency", "Exchange Rate", "Price List", "Grand Total", "Status", "Delivery Status", "%  Delivered",
          "% Amount Billed", "Billing Status", "Last Updated On", "ID (Items)", "Item Code (Items)",
          "Item Name (Items)", "Quantity (Items)", "Rate (Items)", "Amount (Items)"]
# ERPNext's (status, delivery, billing, % delivered, % billed) combinations an export carries, by weight.
STATUSES = [("To Deliver and Bill", "Not Delivered", "Not Billed", 0, 0)] * 5 + [
    ("To Bill", "Fully Delivered", "Not Billed", 100, 0)] * 2 + [
    ("Completed", "Fully Delivered", "Fully Billed", 100, 100)] * 2 + [("Cancelled", "Not Delivered", "Not Billed", 0, 0)]
FIRST = 100_000  # the seeded shop orders are numbered from here


def seed(cursor, orders, now):
    """Customers (owned), paid shop orders numbered FIRST.., each with the shop's source state."""
    customers = max(1, orders // 4)
    p = {"now": now, "nc": customers, "no": orders, "first": FIRST}
    seed_owned_customers(cursor, customers, now - timedelta(days=30))
    cursor.execute("""
        INSERT INTO lifecycle_order (id, system, namespace, external_id, number, currency, total, refunded_total,
                                     product_categories, placed_at, paid_at, state, state_changed_at, created_at,
                                     updated_at, customer_id)
        SELECT g, 'woocommerce', 'main', g::text, (%(first)s + g)::text, 'EUR', 10 + g %% 300, 0, '[]'::jsonb,
               %(now)s - interval '2 days', %(now)s - interval '2 days', 'paid', %(now)s - interval '2 days',
               %(now)s - interval '2 days', %(now)s - interval '2 days', (g - 1) %% %(nc)s + 1
          FROM generate_series(1, %(no)s) g""", p)
    cursor.execute("""
        INSERT INTO lifecycle_ordersourcestate (id, order_id, system, raw_status, observed_at, event_ref, received_at)
        SELECT g, g, 'woocommerce', 'processing', %(now)s - interval '2 days', 'seed', %(now)s - interval '2 days'
          FROM generate_series(1, %(no)s) g""", p)
    for name in ("lifecycle_customer", "lifecycle_ownership", "lifecycle_order", "lifecycle_ordersourcestate"):
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")


def write_export(path, ids, modified):
    """An ERPNext Data Export: one row per order (its first item on it), as Frappe writes it; each
    order last modified at its own moment (a millisecond apart), up to `modified`."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        out = csv.writer(file, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        out.writerow(HEADER)
        for g in ids:
            status, delivery, billing, delivered, billed = STATUSES[g % len(STATUSES)]
            total = 10 + g % 300
            out.writerow([f"SAL-ORD-2026-{g:07d}", "SAL-ORD-.YYYY.-", f"Customer {g}", "Sales", "2026-12-01",
                          str(FIRST + g), "Aftercare Demo Ltd", f"c{g}@example.com", "EUR", 1.0,
                          "Standard Selling", float(total), status, delivery, float(delivered), float(billed), billing,
                          (modified - timedelta(milliseconds=g)).strftime("%Y-%m-%d %H:%M:%S.%f"), f"i{g:09d}",
                          "MUG-BLUE", "Mug, blue", 1.0, float(total), float(total)])


def baseline(path, rows):
    """django-import-export's row-by-row import of the sample; returns (seconds, rows imported)."""
    import tablib

    from integrations.erp.resources import profile_resource

    with open(path, encoding="utf-8") as file:
        dataset = tablib.Dataset().load(file.read(), format="csv")
    resource_ = profile_resource("erpnext")()
    resource_.store_slug = "main"
    t0 = time.perf_counter()
    result = resource_.import_data(dataset, dry_run=False, raise_errors=True)
    took = time.perf_counter() - t0
    if result.has_validation_errors() or result.totals["new"] != rows:
        raise SystemExit(f"ERROR: the row-by-row import imported {result.totals['new']} of {rows} rows")
    return took, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    args = parser.parse_args()

    started = time.perf_counter()
    url = migrated_bench_database("bench_erp_import", "ERP import")
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from integrations.erp.models import ErpImport, ErpRecord
    from integrations.stores import store_connect
    from lifecycle.actors import Actor
    from lifecycle.db import rows
    from lifecycle.models import Customer, Order, OrderSourceState, Ownership

    now = timezone.now()
    store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck_bench",
                  consumer_secret="cs_bench", webhook_secret="whsec_bench", actor=Actor.system("bench"))
    with transaction.atomic(), connection.cursor() as cursor:
        seed(cursor, args.rows + args.sample, now)
    rows.analyze(Customer, Ownership, Order, OrderSourceState)
    folder = Path(tempfile.mkdtemp(prefix="bench-erp-"))
    big, sample = folder / "erpnext-sales-orders.csv", folder / "erpnext-sample.csv"
    modified = now - timedelta(hours=1)
    write_export(big, range(1, args.rows + 1), modified)
    write_export(sample, range(args.rows + 1, args.rows + args.sample + 1), modified)
    print(f"database: PostgreSQL {connection.pg_version // 10000}, DEBUG {'on' if settings.DEBUG else 'off'}, "
          f"{os.cpu_count()} CPUs; {args.rows + args.sample:,} shop orders seeded, export of "
          f"{big.stat().st_size / 2**20:.1f} MB written: {time.perf_counter() - started:.1f} s (not counted)")

    base_s, base_rows = baseline(sample, args.sample)
    base_rate = base_rows / base_s
    print(f"django-import-export row by row, {base_rows:,} rows: {base_s:.2f} s = {base_rate:,.0f} rows/s "
          f"({1000 * base_s / base_rows:.2f} ms a row)")

    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "manage.py", "import_erp", str(big)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    took = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    print(done.stdout.strip())
    if done.returncode:
        print(done.stderr[-3000:])
        raise SystemExit(1)
    batch = ErpImport.objects.filter(dry_run=False).latest("pk")
    applied = batch.new + batch.updated
    rate = args.rows / took
    print(f"import_erp, {args.rows:,} rows: {took:.2f} s = {rate:,.0f} rows/s; batch #{batch.pk} "
          f"{batch.state}, {applied:,} applied, duration on the batch {batch.duration.total_seconds():.2f} s")
    ok = batch.state == "applied" and applied == args.rows and ErpRecord.objects.count() == args.rows + args.sample
    speedup = rate / base_rate
    print(f"FIGURE erp import {args.rows:,} rows: {took:.2f} s (budget <= {TIME_BUDGET:.0f} s) "
          f"{'PASS' if took <= TIME_BUDGET else 'FAIL'}")
    print(f"FIGURE erp import speedup over row-by-row: {speedup:.1f}x (budget >= {SPEEDUP_BUDGET:.0f}x) "
          f"{'PASS' if speedup >= SPEEDUP_BUDGET else 'FAIL'}")
    print(f"FIGURE erp import peak RSS: {rss_mb:.0f} MB (budget <= {RSS_BUDGET:.0f} MB) "
          f"{'PASS' if rss_mb <= RSS_BUDGET else 'FAIL'}")
    if not ok:
        print("ERROR: the import did not apply every row")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
