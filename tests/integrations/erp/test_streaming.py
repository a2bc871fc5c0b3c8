"""A large export is read as a stream: memory stays flat however many rows the file has."""

import time
import tracemalloc

from integrations.erp.reader import ParsedOrder, read_orders

ROWS = 100_000
PEAK_BUDGET = 30 * 1024 * 1024  # bytes; the same file read whole into dicts (csv.DictReader) takes about 56 MB
HEADER = ("ID,Customer's Purchase Order,Status,Delivery Status,Billing Status,Grand Total,Currency,"
          "Last Updated On,Item Code (Items),Quantity (Items)\r\n")


def write_export(path, orders):
    """An ERPNext-style export: each order a parent row and one item row leaving the parent columns empty."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        file.writelines(f"SAL-ORD-2025-{n:06d},{100000 + n},To Deliver and Bill,Not Delivered,Not Billed,"
                        f"{n % 997}.50,EUR,2025-12-01 10:{n % 60:02d}:22.512338,ITEM-{n % 50},1.0\r\n"
                        f",,,,,,,,ITEM-X,2.0\r\n" for n in range(orders))


def test_a_100000_row_export_is_read_with_bounded_memory(tmp_path):
    path = tmp_path / "large.csv"
    write_export(path, ROWS // 2)

    started = time.monotonic()
    tracemalloc.start()
    try:
        with open(path, "rb") as file:
            orders = errors = 0
            for item in read_orders(file):
                if isinstance(item, ParsedOrder):
                    orders += 1
                else:
                    errors += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started

    assert (orders, errors) == (ROWS // 2, 0)
    assert peak < PEAK_BUDGET, f"peak {peak / 2**20:.1f} MB"
    print(f"{ROWS} rows in {elapsed:.1f} s, peak {peak / 2**20:.2f} MB")
