"""The drill's shop: the WooCommerce sandbox living through the month, in a process of its own.

    .venv/bin/python benchmarks/drill/shop.py CONFIG.json

The sandbox store (integrations/woocommerce/sandbox) serves its REST API (the console's backfill
reads it) and keeps WooCommerce's webhook registry: one delivery per active webhook and change,
folded while queued, disabled after repeated failures, never retried. Its clock is frozen at the
month's start and moved to each planned action (month.py) as real time passes, compressed. After
each round of actions the queued deliveries are built (the order as it is then) and posted by a few
sender threads, one per share of the orders, so an order's versions leave in the order they were
made, except on purpose:
- duplicated: the same delivery sent again, half with its delivery id, half with a new one;
- reordered: held back a second or two, so a newer version of the order may arrive first;
- forged: a copy with the status changed (or a signature of the wrong secret) from someone else:
  it does not count towards the webhook's failures;
- dated in the future: an order's last version sent with date_modified a few days ahead;
- two versions in the same second: month.py's pay_complete, flushed between the two changes; for half
  of them (pay_complete_held) the second version is held back `same_second_hold` seconds, past the ERP's
  next export of the order (a queued delivery WooCommerce's scheduler runs late), so another system
  speaks between the shop's two versions of one second.

It writes into the config's folder: orders.jsonl (each version of an order as the shop made it: the
ERP's feed), deliveries.jsonl (every attempt and its answer), status.json (every second) and, once
the month and its deliveries are done, final.json (each order's last word). Then it keeps serving
REST until SIGTERM.
"""

import hashlib
import heapq
import itertools
import json
import queue
import random
import signal
import sys
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for the sandbox
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for drill.month

from drill.month import buyer_email, month_plan  # noqa: E402
from integrations.woocommerce.sandbox import SandboxStore, php_json  # noqa: E402
from integrations.woocommerce.sandbox.delivery import build, post, signature  # noqa: E402

TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
SENDERS = 4
TIMEOUT = 10.0  # WooCommerce's delivery timeout is 5 s; a loaded drill machine answers slower


class Log:
    """Append-only JSON lines, shared by threads."""

    def __init__(self, path):
        self.file, self.lock = open(path, "a", buffering=1), threading.Lock()

    def write(self, record):
        line = json.dumps(record, separators=(",", ":"))
        with self.lock:
            self.file.write(line + "\n")


class Shop:
    def __init__(self, config):
        self.config, self.out = config, Path(config["out"])
        self.start = datetime.fromisoformat(config["sim_start"]).astimezone(UTC).replace(tzinfo=None)
        self.store = SandboxStore(seed=config["seed"], orders=0, customers=0, now=self.start.isoformat(),
                                  consumer_key=config["consumer_key"], consumer_secret=config["consumer_secret"],
                                  history_days=0, new_orders_per_step=0, activity=0, delivery_timeout=TIMEOUT)
        self.rng = random.Random(f"drill-mix-{config['seed']}")
        self.plan = month_plan(customers=config["customers"], days=config["days"], seed=config["seed"],
                               same_second_share=config["same_second"], future_orders=config["future_orders"])
        self.orders, self.accounts, self.future, self.held = {}, {}, set(), set()
        self.orders_log, self.deliveries_log = Log(self.out / "orders.jsonl"), Log(self.out / "deliveries.jsonl")
        self.counts = {k: 0 for k in ("genuine", "duplicate", "late", "held", "forged", "future", "ok", "failed")}
        self.shards = [queue.Queue() for _ in range(SENDERS)]
        self.late, self.late_lock, self.late_seq = [], threading.Lock(), itertools.count()
        self.done_actions, self.finished, self.error, self.started_at = 0, False, None, None
        self.counts_lock = threading.Lock()

    # -- the month -------------------------------------------------------------------------------
    def run(self):
        self.store.start(port=self.config["port"])
        for topic in TOPICS:
            self.store.create_webhook(topic, self.config["webhook_url"], secret=self.config["secret"],
                                      name=f"Aftercare {topic}")
        threads = [threading.Thread(target=self._send_loop, args=(q,), daemon=True) for q in self.shards]
        threads.append(threading.Thread(target=self._late_loop, daemon=True))
        threads.append(threading.Thread(target=self._status_loop, daemon=True))
        for t in threads:
            t.start()
        factor = self.config["days"] * 86_400 / self.config["month_seconds"]
        begin = self.started_at = time.time()
        for action in self.plan:
            due = begin + action.at / factor
            if due > time.time():
                self._flush()
                time.sleep(max(0.0, due - time.time()))
            self._act(action)
            self.done_actions += 1
        self._flush()
        while any(q.unfinished_tasks for q in self.shards) or self.late:
            time.sleep(0.2)
        self._write_final()

    def _act(self, action):
        store = self.store
        target = self.start + timedelta(seconds=action.at)
        store.clock.advance((target - store.clock.now()).total_seconds())
        key, email = (action.buyer, action.slot), buyer_email(action.buyer)
        verb = action.verb
        if verb == "register":
            self.accounts[action.buyer] = store.create_customer(email=email)["id"]
            return
        if verb.startswith("create:"):
            account = self.accounts.get(action.buyer, 0)
            order = store.create_order(customer_id=account, email=None if account else email,
                                       method=verb.split(":", 1)[1], initial=False)
            self.orders[key] = order["id"]
        else:
            order_id = self.orders.get(key)
            if order_id is None:
                return
            self._change(order_id, verb)
        if action.future:
            self.future.add(self.orders[key])
        self._record(self.orders[key])

    def _change(self, order_id, verb):
        store = self.store
        if verb.startswith("pay_complete"):
            store.pay(order_id)
            self._record(order_id)
            self._flush()  # the paid version leaves before the completed one, both in one second
            store.complete(order_id)
            if verb == "pay_complete_held":
                self.held.add(order_id)
        elif verb == "hold":
            store.set_status(order_id, "on-hold")
        elif verb == "refund_partial":
            store.refund(order_id, f"{float(store.order_total(order_id)) / 3:.2f}", "Damaged item")
        elif verb == "refund_full":
            store.refund(order_id, None, "Changed their mind")
        else:
            getattr(store, verb)(order_id)  # pay, fail, cancel, complete

    def _record(self, order_id):
        o = self.store.get_order(order_id)
        refunded = sum(-float(r["total"]) for r in o["refunds"])
        self.orders_log.write({
            "id": o["id"], "number": o["number"], "status": o["status"], "total": o["total"],
            "refunded": f"{refunded:.2f}", "currency": o["currency"], "email": o["billing"]["email"],
            "created": o["date_created_gmt"], "paid": o["date_paid_gmt"], "modified": o["date_modified_gmt"]})

    # -- deliveries ------------------------------------------------------------------------------
    def _flush(self):
        """Build every queued delivery now (the resource as it is now) and hand it to its sender."""
        store = self.store
        with store.lock:
            batch, store.pending = store.pending, []
            store._pending_keys.clear()
            built = []
            for item in batch:
                wh = store.webhooks.get(item["webhook_id"])
                if wh is not None:
                    built.append((wh, item["resource_id"], *build(store, wh, item)))
        for wh, rid, url, body, headers in built:
            kind = "genuine"
            if rid in self.future:
                self.future.discard(rid)
                body, headers, kind = self._dated_ahead(body), dict(headers), "future"
                headers["X-WC-Webhook-Signature"] = signature(body, wh["secret"])
            if rid in self.held:  # the completed version of a pay_complete_held: only it, and only late
                self.held.discard(rid)
                self._hold(self.config["same_second_hold"], rid, wh["id"], url, body, headers, "held")
                continue
            shard = self.shards[rid % SENDERS]
            if self.rng.random() < self.config["reorder"]:
                self._hold(self.rng.uniform(1, 2.5), rid, wh["id"], url, body, headers, "late")
            else:
                shard.put((wh["id"], rid, url, body, headers, kind))
            if self.rng.random() < self.config["duplicate"]:
                again = headers if self.rng.random() < 0.5 else {
                    **headers, "X-WC-Webhook-Delivery-ID": headers["X-WC-Webhook-Delivery-ID"][::-1]}
                shard.put((wh["id"], rid, url, body, again, "duplicate"))
            if self.rng.random() < self.config["forged"]:
                shard.put((None, rid, url, *self._forged(body, headers), "forged"))

    def _hold(self, seconds, rid, wh_id, url, body, headers, kind):
        with self.late_lock:
            heapq.heappush(self.late, (time.time() + seconds, next(self.late_seq), rid, wh_id, url, body, headers, kind))

    def _dated_ahead(self, body):
        payload = json.loads(body)
        ahead = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(days=3)
        payload["date_modified_gmt"] = ahead.isoformat()
        payload["date_modified"] = (ahead + self.store.utc_offset).isoformat()
        return php_json(payload)

    def _forged(self, body, headers):
        if self.rng.random() < 0.5:  # the body changed after signing
            payload = json.loads(body)
            payload["status"] = "refunded"
            return php_json(payload), headers
        return body, {**headers, "X-WC-Webhook-Signature": signature(body, "not-the-shops-secret")}

    def _late_loop(self):
        while True:
            time.sleep(0.1)
            with self.late_lock:
                while self.late and self.late[0][0] <= time.time():
                    _, _, rid, wh_id, url, body, headers, kind = heapq.heappop(self.late)
                    self.shards[rid % SENDERS].put((wh_id, rid, url, body, headers, kind))

    def _send_loop(self, shard):
        while True:
            wh_id, rid, url, body, headers, kind = shard.get()
            sent = time.time()
            status, error, _ = post(url, body, headers, TIMEOUT)
            if wh_id is not None:
                with self.store.lock:
                    wh = self.store.webhooks.get(wh_id)
                    if wh is not None:
                        self.store.record_delivery_outcome(wh, status)
            payload = json.loads(body)
            self.deliveries_log.write({
                "t": sent, "answered": time.time(), "order": rid, "topic": headers.get("X-WC-Webhook-Topic"),
                "modified": payload.get("date_modified_gmt"), "status": payload.get("status"), "kind": kind,
                "http": status, "error": error, "delivery_id": headers.get("X-WC-Webhook-Delivery-ID"),
                "sha256": hashlib.sha256(body).hexdigest()})
            with self.counts_lock:
                self.counts[kind] += 1
                if kind != "forged":
                    self.counts["ok" if status is not None and 200 <= status < 300 else "failed"] += 1
            shard.task_done()

    # -- reports ---------------------------------------------------------------------------------
    def _status_loop(self):
        while True:
            self._write_status()
            time.sleep(1)

    def _write_status(self):
        with self.store.lock:
            hooks = [{k: wh[k] for k in ("id", "topic", "status", "failure_count")}
                     for wh in self.store.webhooks.values()]
            sim = self.store.clock.now().isoformat()
        with self.counts_lock:
            counts = dict(self.counts)
        status = {"sim": sim, "started_at": self.started_at, "actions_done": self.done_actions, "actions": len(self.plan), "done": self.finished,
                  "error": self.error, "orders": len(self.orders), "counts": counts, "webhooks": hooks,
                  "queued": sum(q.qsize() for q in self.shards) + len(self.late)}
        tmp = self.out / "status.json.tmp"
        tmp.write_text(json.dumps(status))
        tmp.replace(self.out / "status.json")

    def _write_final(self):
        final = {}
        with self.store.lock:
            for order_id, o in self.store.orders.items():
                final[order_id] = {"number": o["number"], "status": o["status"], "total": o["total"],
                                   "modified": o["date_modified_gmt"]}
        (self.out / "final.json").write_text(json.dumps(final))
        self.finished = True
        self._write_status()


def main(path):
    config = json.loads(Path(path).read_text())
    shop = Shop(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def run():
        try:
            shop.run()
        except Exception:  # the drill reads the error from status.json and stops
            shop.error = traceback.format_exc()
            print(shop.error, file=sys.stderr, flush=True)

    threading.Thread(target=run, daemon=True).start()
    stop.wait()
    shop.store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
