"""Figures: WooCommerce webhook intake on PostgreSQL + Redis, as deployed (gunicorn, one Celery worker).

1. Accepting: 5,000 signed order.updated deliveries (1,000 sandbox orders x 5 versions, PHP-encoded) posted
   by 16 concurrent clients to `gunicorn console.wsgi -w 3` with no worker running: >= 300 accepted/s, p99
   latency <= 100 ms as the client sees it (queueing included), zero lost (5,000 rows `received`, and the
   store's drain woken in Redis: the receiver sends wake-ups, not a message per delivery; see
   integrations/woocommerce/wakeups.py). ONE worker (--pool solo) then drains that backlog: its rate, first
   to last `processed_at`, is printed for reference only (it leaves out the first batch and the wake-up).
2. Processing, as a user sees it: in a fresh database, a checkout rush is posted the same way while ONE
   worker (--pool solo) runs, started and idle before the first delivery: each of 2,400 orders created and
   paid seconds later (2 versions; --live-versions), 5% of deliveries sent twice (WooCommerce's retries):
   5,040 deliveries, about as many as phase 1's 5,000.
   >= 200 orders/s, counting orders (distinct orders brought to their newest delivered version, not
   deliveries), clocked from the first delivery's receipt (its `received_at`) to the last delivery's
   `processed_at`. The delivery rate over the same clock is printed beside it. The clock includes the shop's
   posting: an order is current only once its newest version has arrived, so the figure cannot exceed the
   arrival rate / versions. Why 2 versions here and 5 in phase 1: in a rush the orders are new; an order's
   later versions (completion, refunds, edits) come hours or days later, not in the same minute (phase 1
   keeps all 5 in one burst to load the receiver; run phase 2 with --live-versions 5 to see that bound).
   Left out: the shop's side before the receiver (WooCommerce's Action Scheduler queue, the network, TLS),
   and the start-up of gunicorn and the worker. Every order must end in its newest state.
The database is dropped and recreated: BENCH_DATABASE_URL, else DATABASE_URL's server with "_bench_webhooks"
added to the name, else postgres://postgres@127.0.0.1:5432/aftercare_bench_webhooks; Redis db
BENCH_REDIS_URL or .../14, flushed.

    .venv/bin/python benchmarks/bench_wc_webhooks.py [--orders 1000] [--versions 5] [--live-orders 2400] [--live-versions 2] [--concurrency 16]

Exit 0 when measured (PASS or FAIL); 1 on an error, a lost delivery or an order not in its newest state.
"""

import argparse
import hashlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchdb import bench_url, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
ACCEPT_RATE, ACCEPT_P99_MS, PROCESS_RATE = 300, 100, 200
SECRET, SLUG = "whsec-bench-9c1d7e", "bench-shop"


def make_payloads(n_orders, versions):
    """Per order, `versions` successive REST bodies from the sandbox shop, 2 s apart: created (pending),
    payment (on-hold for bank transfer/cheque, 5% cancelled), paid, completed, refunds, edits."""
    from integrations.woocommerce.sandbox import SandboxStore

    shop = SandboxStore(seed=3, orders=0, customers=n_orders // 3, now="2025-06-01T08:00:00")
    rng, history = shop._sim_rng, {}

    def step(oid, k):
        o = shop.orders[oid]
        status, before = o["status"], o["date_modified_gmt"]
        if k == 1 and rng.random() < 0.05:
            shop.cancel(oid)  # an unpaid checkout given up
        elif k == 1 and o["payment_method"] in ("bacs", "cheque"):
            shop.set_status(oid, "on-hold")
        elif k <= 2 and status in ("pending", "on-hold"):
            shop.pay(oid)
        elif k == 3 and status == "processing":
            shop.complete(oid)
        elif k >= 4 and status == "completed" and rng.random() < 0.4:
            left = round(float(shop.order_total(oid)) * 100)
            shop.refund(oid, None if rng.random() < 0.25 else f"{left // 3 / 100:.2f}", "Damaged item")
        if o["date_modified_gmt"] == before:  # a shop edit (tracking number): order.updated, same status
            meta = [*o["meta_data"], {"id": shop.next_meta_id(), "key": "_tracking_number", "value": f"TRK{oid}{k}"}]
            shop.update_order(oid, meta_data=meta)
        assert o["date_modified_gmt"] > before, "every version must be newer"

    for k in range(versions):
        for oid in list(history) if k else range(n_orders):
            shop.clock.advance(2)
            if k == 0:
                oid = shop.create_order(initial=False)["id"]
                history[oid] = []
            else:
                step(oid, k)
            history[oid].append(shop.get_order(oid))
    return history


def deliveries(history):
    """(body, headers) as WooCommerce sends them, in the order the shop made the changes."""
    from integrations.woocommerce.signatures import compute_signature, php_json_encode

    out = []
    for n, (_, _, payload) in enumerate(sorted((p["date_modified_gmt"], p["id"], p)
                                               for ps in history.values() for p in ps)):
        body = php_json_encode(payload)
        out.append((body, {
            "Content-Type": "application/json", "User-Agent": "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)",
            "X-WC-Webhook-Source": "https://shop.example.com/", "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": "updated", "X-WC-Webhook-ID": "17",
            "X-WC-Webhook-Delivery-ID": hashlib.md5(f"17{n}".encode()).hexdigest(),
            "X-WC-Webhook-Signature": compute_signature(body, SECRET)}))
    return out


def spawn(argv, env, log_path):
    with open(log_path, "wb") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc, name, grace=15):
    """SIGTERM to the process group we started (gunicorn master + workers, the worker), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {grace} s: killed")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_ready(port, path, proc, timeout=60):
    """WooCommerce's activation ping until it gets a 200, then 30 in all to warm every worker."""
    deadline, ok = time.monotonic() + timeout, 0
    while ok < 30 and time.monotonic() < deadline and proc.poll() is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, b"webhook_id=17", {"Content-Type": "application/x-www-form-urlencoded"})
            ok += conn.getresponse().status == 200
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    if ok < 30:
        raise RuntimeError(f"gunicorn not ready (exit status {proc.poll()})")


def fire(port, path, items, concurrency):
    """Post every delivery from `concurrency` threads; returns (seconds, sorted latencies, failures)."""
    latencies, failures, lock = [], [], threading.Lock()

    def client(k):
        conn, mine, bad = http.client.HTTPConnection("127.0.0.1", port, timeout=30), [], []
        for body, headers in items[k::concurrency]:
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status = repr(error)
                conn.close()  # http.client reconnects on the next request
            mine.append(time.perf_counter() - t0)
            if status != 200:
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, sorted(latencies), failures


def cpu(who):
    return resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime


def figure(name, value, unit, op, budget, fmt=".0f"):
    ok = value >= budget if op == ">=" else value <= budget
    print(f"FIGURE {name}: {value:{fmt}} {unit} (budget {op} {budget} {unit}) {'PASS' if ok else 'FAIL'}", flush=True)


def with_retries(items, share):
    """Every 1/share-th delivery sent again right after itself, as WooCommerce retries one whose answer
    it did not get (the same body and signature, a new delivery id)."""
    if not share:
        return items
    every, out = max(1, round(1 / share)), []
    for n, (body, headers) in enumerate(items):
        out.append((body, headers))
        if n % every == every - 1:
            out.append((body, {**headers, "X-WC-Webhook-Delivery-ID": headers["X-WC-Webhook-Delivery-ID"][::-1]}))
    return out


def fresh_console(url, env, broker):
    """Fresh database and broker, a store, three agents per team to own new customers."""
    import django
    from django.apps import apps

    if apps.ready:
        from django.contrib.contenttypes.models import ContentType
        from django.db import connections

        connections.close_all()  # the drop below ends every connection to the database
        ContentType.objects.clear_cache()
    recreate_database(url)
    broker.flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    django.setup()
    from django.contrib.auth.models import User

    from integrations.stores import store_connect
    from lifecycle.actors import Actor
    from lifecycle.models import Agent, Team

    store_connect(name="Bench Shop", slug=SLUG, base_url="https://shop.example.com", consumer_key="ck_bench",
                  consumer_secret="cs_bench", webhook_secret=SECRET, actor=Actor.system("bench"))
    for team in Team.objects.all():
        for n in range(3):
            agent = Agent.objects.create(user=User.objects.create_user(f"bench-{team.slug}-{n}", is_staff=True),
                                         capacity=30_000)
            agent.teams.add(team)


def setup(args, url, env, broker):
    """A fresh console, and the deliveries."""
    fresh_console(url, env, broker)
    history = make_payloads(args.orders, args.versions)
    return history, deliveries(history)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(args, env, logs, procs, name):
    port = free_port()
    procs[name] = web = spawn([str(BIN / "gunicorn"), "console.wsgi", "-w", str(args.workers), "--bind",
                               f"127.0.0.1:{port}", "--backlog", "2048"], env, logs / f"{name}.log")
    wait_ready(port, f"/webhooks/woocommerce/{SLUG}/", web)
    return web, port


def accepting(args, env, items, broker, logs, procs):
    """Phase 1 under gunicorn with no worker running; True when nothing was lost."""
    from django.db.models import Count

    from integrations.models import InboundEvent

    total, path = len(items), f"/webhooks/woocommerce/{SLUG}/"
    web, port = start_gunicorn(args, env, logs, procs, "gunicorn")
    print(f"load average before posting: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    kids0, own0 = cpu(resource.RUSAGE_CHILDREN), cpu(resource.RUSAGE_SELF)
    elapsed, lat, failures = fire(port, path, items, args.concurrency)
    own = cpu(resource.RUSAGE_SELF) - own0
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"accepting: {total} deliveries, {args.concurrency} concurrent clients, gunicorn -w {args.workers}: "
          f"{elapsed:.2f} s; latency p50 {pct(.5):.1f} ms, p90 {pct(.9):.1f} ms, p99 {pct(.99):.1f} ms, "
          f"max {lat[-1] * 1000:.1f} ms; refused/failed {len(failures)} {sorted(set(map(str, failures)))[:5]}")
    stop(web, "gunicorn")  # reaped: its workers' CPU time now counts among our children's
    print(f"CPU per delivery: gunicorn {(cpu(resource.RUSAGE_CHILDREN) - kids0) / total * 1000:.2f} ms "
          f"(incl. warm-up), this client {own / total * 1000:.2f} ms")
    by_status = dict(InboundEvent.objects.values_list("status").annotate(n=Count("pk")))
    queued = broker.llen("drains")  # the drains' queue (CELERY_TASK_ROUTES)
    print(f"stored: {by_status}; wake-ups waiting in Redis: {queued} (more are scheduled for later)")
    lost = len(failures) + total - by_status.get(InboundEvent.Status.RECEIVED, 0)
    figure("webhook_accepted_per_second", (total - len(failures)) / elapsed, "deliveries/s", ">=", ACCEPT_RATE)
    figure("webhook_accept_p99_latency", pct(.99), "ms", "<=", ACCEPT_P99_MS, ".1f")
    figure("webhook_lost_deliveries", lost, "deliveries", "<=", 0)
    if not queued:
        print("ERROR: no drain was woken: the stored deliveries would wait for the beat's sweep")
    return not lost and by_status == {InboundEvent.Status.RECEIVED: total} and queued > 0


def final_state_errors(history):
    """Orders not as their newest payload says (canonical state, totals, source status and time)."""
    from integrations.woocommerce import mappers
    from lifecycle.models import Order, OrderSourceState

    orders = {o.external_id: o for o in Order.objects.filter(namespace=SLUG)}
    sources = {s.order_id: s for s in OrderSourceState.objects.filter(order__namespace=SLUG)}
    wrong = [] if len(orders) == len(history) else [f"{len(orders)} orders, expected {len(history)}"]
    for oid, payloads in history.items():
        want = mappers.map_order(payloads[-1], store_slug=SLUG, status_map=mappers.DEFAULT_STATUS_MAP)
        order = orders.get(str(oid))
        source = sources.get(order.pk) if order else None
        got = order and source and (order.state, order.total, order.refunded_total, source.raw_status,
                                    source.observed_at)
        if got != (want.canonical_state, want.total, want.refunded_total, want.raw_status, want.modified_at):
            wrong.append((oid, got, want.canonical_state))
    return wrong


def check_drain_task():
    from console.celery import app

    app.loader.import_default_modules()
    if "integrations.woocommerce.tasks.drain_store" not in app.tasks:
        print("ERROR: the Celery app does not import drain_store: a worker would discard every wake-up")
        return False
    return True


def start_worker(env, logs, name):
    return spawn([str(BIN / "celery"), "-A", "console", "worker", "--pool", "solo", "--loglevel", "WARNING",
                  "--queues", "drains,celery", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-webhooks-{name}@%h"],
                 env, logs / f"{name}.log")


def wait_processed(total, worker, log_path):
    """Poll until no delivery waits (or none was processed for 60 s); returns how many still wait."""
    from integrations.models import InboundEvent

    S = InboundEvent.Status
    pending, progress_at = total, time.monotonic()
    while pending and time.monotonic() - progress_at < 60 and worker.poll() is None:
        time.sleep(0.25)
        left = InboundEvent.objects.filter(status__in=[S.RECEIVED, S.FAILED]).count()
        progress_at, pending = (time.monotonic() if left < pending else progress_at), left
    if pending:
        print(f"ERROR: {pending} events still waiting, no progress for 60 s (worker log: {log_path})")
    return pending


def outcomes():
    from django.db.models import Count

    from integrations.models import InboundEvent

    return dict(InboundEvent.objects.values_list("status").annotate(n=Count("pk")))


def integrity(history, by_status):
    """Every order in its newest payload's state and every delivery ended well; returns how many orders
    are current (brought to their newest delivered version), or None on an error."""
    from integrations.models import InboundEvent

    S = InboundEvent.Status
    wrong = final_state_errors(history)
    if wrong or set(by_status) - {S.PROCESSED, S.STALE, S.DUPLICATE}:
        print(f"INTEGRITY ERROR: {len(wrong)} orders not in their newest state (first: {wrong[:3]}); "
              f"outcomes {by_status}")
        return None
    print(f"  integrity: {len(history)} orders, each in the state of its newest payload")
    return len(history)


def backlog_drain(env, history, total, logs, procs):
    """After phase 1: one worker drains the stored deliveries; printed for reference (the old figure)."""
    from django.db.models import Max, Min

    from integrations.models import InboundEvent

    print(f"load average before the worker: {os.getloadavg()[0]:.2f}")
    wall0, kids0 = time.perf_counter(), cpu(resource.RUSAGE_CHILDREN)
    procs["worker"] = worker = start_worker(env, logs, "worker")
    pending = wait_processed(total, worker, logs / "worker.log")
    wall = time.perf_counter() - wall0
    stop(worker, "worker")
    worker_cpu = cpu(resource.RUSAGE_CHILDREN) - kids0
    if pending:
        return False
    span = InboundEvent.objects.aggregate(a=Min("processed_at"), b=Max("processed_at"))
    seconds = (span["b"] - span["a"]).total_seconds()
    print(f"backlog drain (reference, no budget): {total} stored events of {len(history)} orders by one worker "
          f"(solo pool): {seconds:.2f} s first to last processed_at = {(total - 1) / seconds:.0f} events/s, "
          f"{len(history) / seconds:.0f} orders/s; {wall:.1f} s wall incl. worker start; worker CPU "
          f"{worker_cpu / total * 1000:.2f} ms per event (incl. start-up); outcomes {outcomes()}")
    print("  left out of that rate: the wait before a worker ran, its start-up, the first batch, the wake-up")
    return integrity(history, outcomes()) is not None


def worker_ready(worker, timeout=60):
    """The worker answers a remote-control ping (it consumes from the broker)."""
    from console.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        if app.control.ping(timeout=0.5):
            return True
    return False


def processing(args, env, url, broker, history, items, logs, procs):
    """Phase 2, the figure: a fresh console, the worker idle and waiting, the same deliveries posted;
    from the first delivery's receipt to the last one processed. True when every order ends current."""
    from django.db.models import Max, Min

    from integrations.models import InboundEvent

    total, path = len(items), f"/webhooks/woocommerce/{SLUG}/"
    started = time.perf_counter()
    fresh_console(url, env, broker)
    procs["live-worker"] = worker = start_worker(env, logs, "live-worker")
    if not worker_ready(worker):
        print(f"ERROR: the worker did not answer a ping (log: {logs / 'live-worker.log'})")
        return False
    web, port = start_gunicorn(args, env, logs, procs, "live-gunicorn")
    print(f"live run set-up (fresh database, worker up and idle, gunicorn up): {time.perf_counter() - started:.1f} s "
          f"(not counted); load average {os.getloadavg()[0]:.2f}")
    kids0 = cpu(resource.RUSAGE_CHILDREN)
    elapsed, lat, failures = fire(port, path, items, args.concurrency)
    if failures:
        print(f"ERROR: {len(failures)} deliveries refused or failed in the live run: {sorted(set(map(str, failures)))[:5]}")
        return False
    pending = wait_processed(total, worker, logs / "live-worker.log")
    stop(web, "gunicorn")
    stop(worker, "worker")
    if pending:
        return False
    kids = cpu(resource.RUSAGE_CHILDREN) - kids0
    t = InboundEvent.objects.aggregate(first=Min("received_at"), arrived=Max("received_at"), last=Max("processed_at"))
    seconds = (t["last"] - t["first"]).total_seconds()
    arrival = (t["arrived"] - t["first"]).total_seconds()
    by_status = outcomes()
    print(f"live: {total} deliveries posted by {args.concurrency} clients while one worker (solo pool) ran: "
          f"arrived over {arrival:.2f} s ({total / max(arrival, 1e-9):.0f} deliveries/s; client p99 "
          f"{lat[min(len(lat) - 1, int(.99 * len(lat)))] * 1000:.0f} ms); last processed {seconds - arrival:.2f} s "
          f"after the last arrival; CPU of gunicorn + worker {kids / total * 1000:.2f} ms per delivery; "
          f"outcomes {by_status}")
    current = integrity(history, by_status)
    if current is None:
        return False
    print(f"processing: {current} orders brought to their newest delivered version, {seconds:.2f} s from the first "
          f"delivery's receipt to the last one processed = {current / seconds:.0f} orders/s "
          f"(deliveries: {total / seconds:.0f} events/s, for reference)")
    waits = sorted((b - a).total_seconds() for a, b in InboundEvent.objects.values_list("received_at", "processed_at"))
    q = lambda f: waits[min(len(waits) - 1, int(f * len(waits)))] * 1000  # noqa: E731
    print(f"  each delivery, receipt to processed: p50 {q(.5):.0f} ms, p99 {q(.99):.0f} ms, max {waits[-1] * 1000:.0f} ms")
    print(f"  bound: an order is current once its newest version arrived, so at most the arrival rate / "
          f"{total / len(history):.2f} deliveries an order = {len(history) / max(arrival, 1e-9):.0f} orders/s here")
    print("  left out: the shop's side before the receiver (Action Scheduler queue, network, TLS), "
          "the start-up of gunicorn and the worker (both up before the first delivery)")
    figure("webhook_processed_per_second", current / seconds, "orders/s", ">=", PROCESS_RATE)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=5, help="versions per order in phase 1 (accepting)")
    parser.add_argument("--live-orders", type=int, default=2400, help="orders in phase 2 (processing)")
    parser.add_argument("--live-versions", type=int, default=2, help="versions per order in phase 2 (processing)")
    parser.add_argument("--retries", type=float, default=0.05, help="share of phase 2's deliveries sent twice")
    # 16 clients posting at once: WooCommerce sends a shop's deliveries from Action Scheduler, one batch at
    # a time, so 16 is several busy shops together. A closed loop's latency is its clients over the rate
    # (Little's law): at 32, even a receiver at twice the 300/s budget queues each delivery ~53 ms on average.
    parser.add_argument("--concurrency", type=int, default=16, help="client threads posting at once")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    args = parser.parse_args()
    url, redis_url = bench_url("bench_webhooks"), os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": redis_url, "DEBUG": "false",
           "ALLOWED_HOSTS": "127.0.0.1", "SECRET_KEY": "bench-" + "k" * 60, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "console.settings", "DJANGO_ENV": "development"}
    os.environ.update(env)  # this process reads the same database (and decrypts the same secret)
    import redis

    started, broker = time.perf_counter(), redis.Redis.from_url(redis_url)
    history, items = setup(args, url, env, broker)
    print(f"setup (db, migrate, store, {len(history)} sandbox orders x {args.versions} versions, signed bodies "
          f"avg {sum(len(b) for b, _ in items) // len(items)} B): {time.perf_counter() - started:.1f} s")
    logs, procs = Path(tempfile.mkdtemp(prefix="bench_wc_webhooks_")), {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop gunicorn and the worker below
    try:
        if not accepting(args, env, items, broker, logs, procs):
            print(f"ERROR: deliveries were lost or refused (gunicorn log: {logs / 'gunicorn.log'})")
            return 1
        if not check_drain_task() or not backlog_drain(env, history, len(items), logs, procs):
            return 1
        live_history = make_payloads(args.live_orders, args.live_versions)
        live_items = with_retries(deliveries(live_history), args.retries)
        return 0 if processing(args, env, url, broker, live_history, live_items, logs, procs) else 1
    finally:
        for name, proc in procs.items():
            stop(proc, name)


if __name__ == "__main__":
    sys.exit(main())
