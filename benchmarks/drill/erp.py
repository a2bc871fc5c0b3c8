"""The drill's ERP: a daily ERPNext Sales Order export into the console's drop folder, and the operations
person who fixes a rejected one.

The ERP learns of an order once it is paid (the shop's feed, orders.jsonl) and reports it each day it
changed: released to the warehouse while the shop processes it, completed once the shop completes it
(a refunded order stays as the warehouse left it), cancelled when the shop cancels a paid order. Each
day's file carries the orders whose ERP status changed that (simulated) day, stamped a few minutes
after the shop's change.
- disagreeing (2% of orders): half with a grand total 5.00 above the shop's (a mismatch at once), half
  never leaving "to deliver" (a mismatch 48 hours after the shop completes it);
- malformed (0.5% of rows): a total or a date nobody can read. The drop folder rejects such a file
  whole (invalid rows reject it, integrations/erp/drop.py) and opens a sync_failure; operations then
  export the day again without the bad values and drop it under the same name, which resolves it.
Files are written under a temporary name and renamed, as the drop folder expects.
"""

import csv
import hashlib
import json
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path

HEADER = ["ID", "Series", "Customer", "Order Type", "Date", "Customer's Purchase Order", "Company", "Contact Email",
          "Currency", "Exchange Rate", "Price List", "Grand Total", "Status", "Delivery Status", "%  Delivered",
          "% Amount Billed", "Billing Status", "Last Updated On"]
RELEASED = ("To Deliver and Bill", "Not Delivered", "Not Billed", 0.0, 0.0)
COMPLETED = ("Completed", "Fully Delivered", "Fully Billed", 100.0, 100.0)
CANCELLED = ("Cancelled", "Not Delivered", "Not Billed", 0.0, 0.0)
ERP_LAG = timedelta(minutes=7)  # the ERP books a change a few minutes after the shop made it
MAX_REDROPS = 3  # then it waits for a person who reads the sync_failure


def _share(order_id, salt):
    """A stable number in [0, 1) per order: which orders the ERP gets wrong."""
    return int(hashlib.sha256(f"{salt}:{order_id}".encode()).hexdigest()[:8], 16) / 2**32


class Erp:
    def __init__(self, *, feed, drop, disagree, malformed, seed):
        self.feed, self.drop = Path(feed), Path(drop)
        self.disagree, self.malformed = disagree, malformed
        self.rng = random.Random(f"drill-erp-{seed}")
        self.offset, self.views, self.changed = 0, {}, {}
        self.files, self.redrops = [], {}
        self.rows_written = self.bad_rows = 0
        self.lock = threading.Lock()

    # -- the ERP's view ---------------------------------------------------------------------------
    def read_feed(self):
        """Take in the shop's new versions; each paid order's ERP status as of its last change."""
        if not self.feed.exists():
            return
        with open(self.feed, "rb") as file:
            file.seek(self.offset)
            data = file.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            version = json.loads(line)
            status = self._erp_status(version)
            if status is not None and self.views.get(version["id"], (None,))[0] != status:
                self.views[version["id"]] = (status, version)
                self.changed[version["id"]] = version

    def _erp_status(self, version):
        known = version["id"] in self.views
        if version["status"] == "processing" or (version["status"] == "completed"
                                                 and _share(version["id"], "stuck") < self.disagree / 2):
            return RELEASED if version["paid"] or known else None
        if version["status"] == "completed":
            return COMPLETED
        if version["status"] == "cancelled" and known:
            return CANCELLED
        return self.views[version["id"]][0] if known else None

    # -- the daily export -------------------------------------------------------------------------
    def export_day(self, day):
        """Write the day's file of the orders changed since the last one; returns its name, or None."""
        self.read_feed()
        with self.lock:
            changed, self.changed = self.changed, {}
            if not changed:
                return None
            rows = [self._row(order_id, version) for order_id, version in sorted(changed.items())]
            name = f"sales-orders-day-{day:02d}.csv"
            bad = [self.rng.random() < self.malformed for _ in rows]
            self.bad_rows += sum(bad)
            self.rows_written += len(rows)
            self._write(name, [_spoil(row, self.rng) if spoil else row for row, spoil in zip(rows, bad)])
            self.files.append((name, rows))
        return name

    def _row(self, order_id, version):
        status, delivery, billing, delivered, billed = self.views[order_id][0]
        total = float(version["total"]) + (5.0 if _share(order_id, "total") < self.disagree / 2 else 0.0)
        updated = datetime.fromisoformat(version["modified"]) + ERP_LAG
        return [f"SAL-ORD-{order_id:07d}", "SAL-ORD-.YYYY.-", version["email"], "Sales", version["created"][:10],
                str(version["number"]), "Drill Shop Ltd", version["email"], version["currency"], 1.0,
                "Standard Selling", round(total, 2), status, delivery, delivered, billed, billing,
                updated.strftime("%Y-%m-%d %H:%M:%S+00:00")]

    def _write(self, name, rows):
        part = self.drop / f"{name}.part"
        with open(part, "w", newline="", encoding="utf-8") as file:
            out = csv.writer(file, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
            out.writerow(HEADER)
            out.writerows(rows)
        part.replace(self.drop / name)

    # -- operations -------------------------------------------------------------------------------
    def fix_rejected(self):
        """Drop again, corrected, each file the console moved to failed/ more often than it was dropped
        again (the drop folder names a second failure of a file "name-1.csv"); at most MAX_REDROPS times."""
        failed = self.drop / "failed"
        if not failed.is_dir():
            return []
        names = [p.name for p in failed.iterdir()]
        fixed = []
        with self.lock:
            for name, rows in self.files:
                stem = name.removesuffix(".csv")
                failures = sum(1 for n in names if n == name or (n.startswith(f"{stem}-") and n.endswith(".csv")))
                if failures > self.redrops.get(name, 0) and self.redrops.get(name, 0) < MAX_REDROPS:
                    self.redrops[name] = self.redrops.get(name, 0) + 1
                    self._write(name, rows)
                    fixed.append(name)
        return fixed

    def pending_files(self):
        """Files in the drop folder not taken yet, and files being imported."""
        waiting = [p for p in self.drop.iterdir() if p.is_file()]
        processing = self.drop / "processing"
        return waiting + (list(processing.iterdir()) if processing.is_dir() else [])


def _spoil(row, rng):
    row = list(row)
    if rng.random() < 0.5:
        row[11] = "12.34.56"  # Grand Total
    else:
        row[17] = "2026-13-45 25:61:00"  # Last Updated On
    return row
