"""The drill (issue 16): a month of a shop in one run, on PostgreSQL and Redis with real processes, with
hostile input and faults, then every invariant counted and the figures printed.

    make drill                     # 20,000 customers, the month in 12 minutes
    make drill SCALE=2000          # a smaller month
    .venv/bin/python benchmarks/drill.py --scale 300 --minutes 1 --beat-speedup 4 --crm-outage-seconds 20 \
        --same-second 0.1   # CI's small month (tests/drill/test_drill.py)

What runs, each its own process (benchmarks/drill/processes.py): gunicorn (the console), two Celery workers
for the queues "drains" and "celery" (nice 5), one for "sweeps" and one for "crm" (nice 15; their sessions'
scheduler groups too, processes.session_nice, and their database sessions, benchmarks/drill/priority.py;
CELERY_TASK_ROUTES), beat
(django-celery-beat's DatabaseScheduler), the sandbox HubSpot, the drill's
shop (the WooCommerce sandbox living through the month, benchmarks/drill/shop.py) and a redis-server of
the drill's own on a free port. The database is the drill's own (benchmarks/drill/database.py):
dropped, created, migrated, the demo staff seeded (seed_demo without customers), agents' capacities set
for the month, the shop and the CRM connected (benchmarks/drill/console.py). Nothing else on the
machine is touched: no shared Redis, no other database, no process the drill did not start.
Where the server runs without autovacuum (CI's configuration here), the drill vacuums and analyzes its
own database as autovacuum would (benchmarks/drill/upkeep.py).

The month (simulated time, compressed into --minutes of real time; the console's own clocks stay real,
so its beat runs --beat-speedup times as often, an edit of its schedule a manager could make):
- N customers (--scale) buying once or twice; their orders reach the console as signed webhooks with
  5% duplicated, 5% reordered, 2% two versions in the same second, 1% forged (bad signatures, altered
  bodies) and a few dated in the future (benchmarks/drill/month.py, shop.py);
- a daily ERPNext export into the drop folder beat imports from, 2% of orders disagreeing, 0.5% of rows
  malformed (operations drop a rejected file again, corrected: benchmarks/drill/erp.py, ops.py);
- CRM owner and stage edits by hand in the sandbox HubSpot, 1% naming another owner, and a CRM outage of
  ten minutes as the beat counts them (--crm-outage-seconds; benchmarks/drill/crm.py);
- agents claiming and resolving at --agent-actions a minute through the services (benchmarks/drill/agents.py);
- faults (benchmarks/drill/faults.py): a worker SIGKILLed while deliveries wait, Redis restarted,
  the database's connections terminated, the web process restarted, beat stopped for a while.

At the end, once the console has caught up (benchmarks/drill/settle.py), each invariant is printed as
`INVARIANT <name>: <count> (allowed 0) OK|BROKEN` (benchmarks/drill/invariants.py, sync_checks.py), and
the figures as `FIGURE <name>: <value> <unit> (budget <= <budget> <unit>) PASS|FAIL`
(benchmarks/drill/figures.py); budgets (issue 16): receipt → owned by an agent p99 <= 2 s, receipt →
processed p99 <= 1 s, the month <= 15 minutes, the customer screen p50 <= 150 ms and the API lookup p99
<= 100 ms over HTTP against gunicorn while the workers run. A report with charts is written to
var/drill/report.md. Exit status 1 when an invariant breaks or the console did not catch up in time;
a FAIL against a budget is a measurement, not an error.

Left out (printed too): customers' own touchpoints (nobody marks journey steps done or logs CRM
activities, so steps due in the simulated past are missed, as they would be); the shop's customer
webhooks (its customers arrive with their orders); the SLA clocks in real time (assignment, exception
SLAs), which the compressed month never reaches; journeys when the services write none.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from drill import console, database  # noqa: E402
from drill.processes import (  # noqa: E402
    BIN, WORKER_NICE, WORKERS, Processes, beat_argv, crm_argv, free_port, gunicorn_argv, redis_argv, shop_argv,
    wait_for_port, worker_argv)

WORK = ROOT / "var" / "drill"
# When each fault strikes (simulated days; the CRM's outage begins on day 8, _world). Redis restarts before
# the web does: it empties the queues, and operations' "Sync now" after the web's restart must survive.
FAULT_DAYS = {"kill_worker": 5, "restart_redis": 12, "terminate_connections": 15, "restart_web": 19, "stop_beat": 23}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=20_000, help="customers in the month")
    p.add_argument("--minutes", type=float, default=12.0, help="real minutes the simulated month takes")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--beat-speedup", type=float, default=6.0, help="the beat's every-minute tasks run this often")
    p.add_argument("--agent-actions", type=float, default=120.0, help="claims by agents per real minute")
    p.add_argument("--agent-capacity", type=int, default=0, help="0: room for every customer of the month")
    p.add_argument("--crm-edits", type=float, default=0.1, help="edits by hand, as a share of customers")
    p.add_argument("--crm-conflicting", type=float, default=0.01, help="share of the edits naming another owner")
    p.add_argument("--crm-outage-seconds", type=float, default=None, help="default: 10 minutes / beat speed-up")
    p.add_argument("--duplicate", type=float, default=0.05)
    p.add_argument("--reorder", type=float, default=0.05)
    p.add_argument("--same-second", type=float, default=0.02)
    p.add_argument("--forged", type=float, default=0.01)
    p.add_argument("--future-orders", type=int, default=None, help="default: 3, one more per 5,000 customers")
    p.add_argument("--erp-disagree", type=float, default=0.02)
    p.add_argument("--erp-malformed", type=float, default=0.005)
    p.add_argument("--beat-pause", type=float, default=None, help="seconds beat stays stopped; default 8%% of the month")
    p.add_argument("--no-faults", action="store_true")
    p.add_argument("--settle-minutes", type=float, default=10.0, help="how long the console may take to catch up")
    p.add_argument("--web-workers", type=int, default=4, help="gunicorn workers, as the README's deployment runs")
    p.add_argument("--database", help="the drill's database name (must contain 'drill')")
    p.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    p.add_argument("--out", type=Path, default=WORK, help="where the report and the run's files go")
    args = p.parse_args(argv)
    args.crm_outage_seconds = 600 / args.beat_speedup if args.crm_outage_seconds is None else args.crm_outage_seconds
    args.future_orders = 3 + args.scale // 5000 if args.future_orders is None else args.future_orders
    args.beat_pause = max(10.0, 0.08 * args.minutes * 60) if args.beat_pause is None else args.beat_pause
    args.command = " ".join(["benchmarks/drill.py", *(sys.argv[1:] if argv is None else argv)])
    return args


def say(text):
    print(text, flush=True)


class Drill:
    def __init__(self, args):
        self.args = args
        self.work = args.out
        self.run_dir = self.work / "run"
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for sub in ("logs", "shop", "drop", "var"):
            (self.run_dir / sub).mkdir(parents=True)
        self.ports = {name: free_port() for name in ("web", "shop", "crm", "redis")}
        self.keys = {"consumer_key": f"ck_{secrets.token_hex(20)}", "consumer_secret": f"cs_{secrets.token_hex(20)}",
                     "secret": secrets.token_hex(20)}
        self.crm_token = f"pat-drill-{secrets.token_hex(12)}"
        self.db_url = database.drill_url(args.database)
        self.env = self._environment()
        self.procs = Processes(self.run_dir / "logs", self.env)
        self.procs_lock = threading.Lock()  # held by a fault while it stops and starts processes
        self.threads, self.started_at, self.loads = [], None, []

    def _environment(self):
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "CELERY_FILESYSTEM_DIR")}
        env.update({
            "DATABASE_URL": self.db_url, "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "ERP_DROP_DIR": str(self.run_dir / "drop"), "AFTERCARE_VAR_DIR": str(self.run_dir / "var"),
            "DEBUG": "0", "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "console.settings",
            "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
        return env

    # -- set-up ----------------------------------------------------------------------------------
    def set_up(self):
        args, started = self.args, time.time()
        redis = self.procs.start("redis", redis_argv(self.ports["redis"], self.run_dir / "var"))
        if not wait_for_port(self.ports["redis"], redis, 30):
            raise SystemExit("ERROR: the drill's redis-server did not start (log: run/logs/redis.log)")
        database.recreate(self.db_url)
        os.environ.update({k: self.env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "AFTERCARE_VAR_DIR", "DEBUG",
                                                     "LOG_LEVEL", "DJANGO_SETTINGS_MODULE")})
        os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
        import django

        django.setup()
        self.console = console.migrate_and_seed(
            customers=args.scale, capacity=args.agent_capacity, shop_url=f"http://127.0.0.1:{self.ports['shop']}",
            keys=self.keys, crm_url=f"http://127.0.0.1:{self.ports['crm']}", crm_token=self.crm_token)
        say(f"set-up: database {self.db_url.rsplit('/', 1)[1]} migrated and seeded, agents' capacity "
            f"{self.console.capacity}: {time.time() - started:.0f} s")
        self._start_processes()
        say(f"processes up (web :{self.ports['web']}, shop :{self.ports['shop']}, CRM :{self.ports['crm']}, "
            f"redis :{self.ports['redis']}): {time.time() - started:.0f} s")

    def _start_processes(self):
        from drill.faults import wait_and_compress

        args, p = self.args, self.procs
        p.start("crm", crm_argv(self.ports["crm"], self.crm_token, console.owner_emails()))
        p.start("web", gunicorn_argv(self.ports["web"], args.web_workers))
        for name in WORKERS:
            p.start(name, worker_argv(name), nice=WORKER_NICE[name])
        p.start("beat", beat_argv(self.run_dir / "var"))
        for name in ("web", "crm"):
            if not wait_for_port(self.ports[name], p.procs[name], 120):
                raise SystemExit(f"ERROR: {name} did not start (log: run/logs/{name}.log)")
        self._wait_for_workers()
        if not wait_and_compress(args.beat_speedup):
            raise SystemExit("ERROR: beat did not write its schedule (log: run/logs/beat.log)")

    def _wait_for_workers(self, timeout=120):
        from console.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1.0) or []
            if len(replies) >= len(WORKERS):
                return
            time.sleep(0.5)
        raise SystemExit("ERROR: the Celery workers did not answer (logs: run/logs/worker-*.log)")

    def start_shop(self):
        args = self.args
        month_seconds = args.minutes * 60
        self.month_start = (datetime.now(UTC) - timedelta(days=args.days)).replace(microsecond=0)
        config = {"out": str(self.run_dir / "shop"), "sim_start": self.month_start.isoformat(), "seed": args.seed,
                  "customers": args.scale, "days": args.days, "month_seconds": month_seconds,
                  "port": self.ports["shop"], "webhook_url": f"http://127.0.0.1:{self.ports['web']}/webhooks/woocommerce/"
                  f"{console.SHOP_SLUG}/", "duplicate": args.duplicate, "reorder": args.reorder,
                  "same_second": args.same_second, "forged": args.forged, "future_orders": args.future_orders,
                  # Past the ERP's next daily export and its import (the drop folder's settling, beat's run).
                  "same_second_hold": 2 * month_seconds / args.days + 12 + 60 / args.beat_speedup, **self.keys}
        path = self.run_dir / "shop" / "config.json"
        path.write_text(json.dumps(config))
        self.procs.start("shop", shop_argv(path))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not self.shop_status().get("started_at"):
            if not self.procs.alive("shop"):
                raise SystemExit("ERROR: the shop stopped (log: run/logs/shop.log)")
            time.sleep(0.2)
        self.started_at = self.shop_status().get("started_at")
        if not self.started_at:
            raise SystemExit("ERROR: the shop did not start its month")

    def shop_status(self):
        try:
            return json.loads((self.run_dir / "shop" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def day_at(self, day):
        """The real time the simulated day `day` (a float) begins."""
        return self.started_at + day / self.args.days * self.args.minutes * 60

    def stop(self):
        for worker in getattr(self, "workers", []):
            worker.stopping.set()
        self.procs.stop_all()

    # -- the month -------------------------------------------------------------------------------
    def run_month(self):
        from drill.agents import Agents
        from drill.crm import Crm
        from drill.erp import Erp
        from drill.faults import Faults
        from drill.monitor import Monitor
        from drill.ops import Operations
        from drill.priority import Priorities
        from drill.probe import ProbeProcess
        from drill.upkeep import Upkeep

        args = self.args
        self.monitor = Monitor()
        self.erp = Erp(feed=self.run_dir / "shop" / "orders.jsonl", drop=self.run_dir / "drop",
                       disagree=args.erp_disagree, malformed=args.erp_malformed, seed=args.seed)
        self.crm = Crm(url=f"http://127.0.0.1:{self.ports['crm']}", connection_id=self.console.crm_id, seed=args.seed)
        self.agents = Agents(per_minute=args.agent_actions, seed=args.seed)
        self.probe = ProbeProcess(procs=self.procs, path=self.run_dir / "probe.jsonl", config={
            "base_url": f"http://127.0.0.1:{self.ports['web']}", "username": console.MANAGER,
            "password": console.PASSWORD, "token": self.console.token, "seed": args.seed})
        self.ops = Operations(shop_url=f"http://127.0.0.1:{self.ports['shop']}", erp=self.erp,
                              store_id=self.console.store_id,
                              consumer_key=self.keys["consumer_key"], consumer_secret=self.keys["consumer_secret"])
        self.faults = Faults(procs=self.procs, db_url=self.db_url, redis_port=self.ports["redis"],
                             web_port=self.ports["web"], operations=self.ops, monitor=self.monitor,
                             speedup=args.beat_speedup)
        self.priorities = Priorities(WORKER_NICE, report=say)
        self.upkeep = Upkeep(self.db_url, report=say)
        self.workers = [self.monitor, self.agents, self.probe, self.ops, self.priorities]
        if self.upkeep.needed():
            self.workers.append(self.upkeep)
        self.start_shop()
        say(f"the month begins: {args.scale:,} customers, {args.days} days in {args.minutes:g} minutes "
            f"(1 s = {args.days * 86400 / (args.minutes * 60) / 60:.0f} simulated minutes), beat {args.beat_speedup:g}× "
            f"faster, {args.agent_actions:g} agent claims a minute")
        for worker in self.workers:
            self._thread(worker.loop)
        self._thread(self._world)
        if not args.no_faults:
            self._thread(self._fault_schedule)
        last = 0.0
        while True:
            status = self.shop_status()
            if status.get("error") or not self.procs.alive("shop"):
                raise SystemExit(f"ERROR: the shop failed: {status.get('error') or 'it exited'}")
            if status.get("done"):
                break
            self._supervise()
            if time.time() - last >= args.progress:
                self._progress(status)
                last = time.time()
            time.sleep(0.5)
        self.erp.export_day(args.days)
        for worker in (self.agents, self.probe):
            worker.stopping.set()
        self.month_sent_at = time.time()
        self._progress(self.shop_status())
        say(f"the shop's month is over ({time.time() - self.started_at:.0f} s); the console catches up")

    def _thread(self, target):
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _world(self):
        """The ERP's daily exports and the people editing the CRM, at each simulated day's end; the CRM's outage."""
        args = self.args
        edits_total = round(args.scale * args.crm_edits)
        conflicting = max(1, round(edits_total * args.crm_conflicting)) if edits_total else 0
        per_day = [edits_total * (d + 1) // args.days - edits_total * d // args.days for d in range(args.days)]
        # Conflicts spread over the month, early enough for agents to decide them before it ends.
        clashes = Counter(2 + k * (args.days - 5) // max(1, conflicting) for k in range(conflicting))
        outage_day = 8 if args.crm_outage_seconds > 0 else None
        for day in range(1, args.days):
            self._sleep_until(self.day_at(day))
            if outage_day == day:
                self._guarded("CRM outage", lambda: self.crm.outage(args.crm_outage_seconds))
                self.faults.note("CRM outage", f"the sandbox HubSpot refuses connections for "
                                               f"{args.crm_outage_seconds:.0f} s")
            self._guarded("ERP export", lambda: self.erp.export_day(day))
            self._guarded("CRM edits", lambda: self.crm.edit_some(per_day[day - 1], clashes[day]))

    def _guarded(self, what, action):
        from drill.dbsafe import database_errors, fresh_connection

        try:
            fresh_connection()
            action()
        except database_errors() as error:
            say(f"  ({what} skipped: {type(error).__name__}, a fault cut the drill's connection)")

    def _fault_schedule(self):
        faults, args = self.faults, self.args
        plan = sorted((day, name) for name, day in FAULT_DAYS.items())
        for day, name in plan:
            self._sleep_until(self.day_at(day))
            with self.procs_lock:
                if name == "stop_beat":
                    faults.stop_beat(args.beat_pause)
                else:
                    getattr(faults, name)()

    def _sleep_until(self, moment):
        time.sleep(max(0.0, moment - time.time()))

    def _supervise(self):
        """A process that died on its own is started again, as a supervisor would, and said."""
        if not self.procs_lock.acquire(blocking=False):
            return
        try:
            for name in ("redis", "web", *WORKERS, "beat", "crm"):
                if not self.procs.alive(name):
                    code = self.procs.procs[name].poll()
                    self.procs.restart(name)
                    self.faults.note(f"{name} exited", f"with status {code} on its own: started again")
        finally:
            self.procs_lock.release()

    def _progress(self, status):
        last, load = self.monitor.last, os.getloadavg()[0]
        self.loads.append(load)
        counts = status.get("counts", {})
        day = (time.time() - self.started_at) / (self.args.minutes * 60) * self.args.days
        line = (f"[{(time.time() - self.started_at) / 60:5.1f} min | day {min(day, self.args.days):4.1f}] "
                f"shop sent {counts.get('ok', 0) + counts.get('failed', 0):,} (failed {counts.get('failed', 0):,}, "
                f"forged {counts.get('forged', 0):,})")
        if last is not None:
            line += (f" | processed {last.finished:,}, waiting {last.waiting:,} | orders {last.orders:,}, customers "
                     f"{last.owned:,} ({last.with_agent:,} with an agent) | open exceptions {last.open_exceptions:,}"
                     f" | CRM outbox {last.outbox_pending:,}")
        say(line + f" | load {load:.1f}")

    # -- the end ---------------------------------------------------------------------------------
    def catch_up(self):
        from django.db import connection

        from drill.settle import settle

        connection.close()  # this thread's connection, opened before the faults, may have been terminated
        args = self.args
        sweep = 60 / args.beat_speedup
        failing = settle(timeout=args.settle_minutes * 60, quiet=max(15.0, 2 * sweep), report=say, tick=self._supervise,
                         shop_status=self.shop_status, erp=self.erp, store_id=self.console.store_id,
                         last_failed_delivery=self._last_lost_delivery())
        self.caught_up_at, self.failing = time.time(), failing
        for worker in self.workers:
            worker.stopping.set()
        self._progress(self.shop_status())
        if failing:
            say("NOT CAUGHT UP after " + f"{args.settle_minutes:g} minutes: " + "; ".join(failing))
        else:
            say(f"caught up {self.caught_up_at - self.month_sent_at:.0f} s after the shop's month ended")
        return failing

    def _last_lost_delivery(self):
        """When the shop last failed to deliver a genuine change the console did not store either (so
        it missed it: WooCommerce does not send it again), or None. A delivery stored but answered with
        an error (its wake-up failed) was not lost."""
        from integrations.models import InboundEvent

        stored = set(InboundEvent.objects.filter(store_id=self.console.store_id).values_list("body_sha256", flat=True))
        last = None
        with open(self.run_dir / "shop" / "deliveries.jsonl") as file:
            for line in file:
                d = json.loads(line)
                failed = not (d["http"] and 200 <= d["http"] < 300)
                if d["kind"] != "forged" and failed and d["sha256"] not in stored:
                    last = max(last or 0.0, d["t"])
        return last

    def check(self):
        from django.db import connection

        from drill import invariants, sync_checks

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # the tables grew all month: the checks' plans need today's statistics
        args, slug = self.args, console.SHOP_SLUG
        sweep = timedelta(seconds=60 / args.beat_speedup)
        final = json.loads((self.run_dir / "shop" / "final.json").read_text())
        checks = [
            invariants.one_owner,
            lambda: invariants.waiting_with_room(max(timedelta(seconds=60), 2 * sweep + timedelta(seconds=20))),
            lambda: invariants.deliveries_once(self.console.store_id),
            lambda: invariants.duplicate_orders(slug),
            sync_checks.states_owned,
            invariants.exceptions_owned,
            invariants.handoffs_complete,
            lambda: sync_checks.crm_in_order(connection_id=self.console.crm_id, contacts=self.crm.contacts(),
                                             deals=self.crm.deals(), edited_after=self.crm.edited_after()),
            lambda: invariants.journeys_swept(2 * sweep + timedelta(seconds=30)),
            lambda: sync_checks.shop_word_kept(final, slug),
        ]
        results = [check() for check in checks]
        for r in results:
            if r.count is None:
                say(f"INVARIANT {r.name}: {r.note}")
                continue
            say(f"INVARIANT {r.name}: {r.count} (allowed 0) {'OK' if r.count == 0 else 'BROKEN'}"
                + (f"  [{r.note}]" if r.note else ""))
            for example in r.examples:
                say(f"    {example}")
        return results

    def figures(self):
        from drill import figures

        found = figures.compute(store_id=self.console.store_id, slug=console.SHOP_SLUG,
                                month_seconds=self.caught_up_at - self.started_at, caught_up=not self.failing,
                                probe=self.probe)
        for figure in found:
            say(figure.line() + f"  [{figure.note}]")
        return found

    def left_out(self, results):
        items = [
            "customers' own touchpoints: nobody marks journey steps done or logs CRM activities, so steps due "
            "in the simulated past are missed (and their missed_touchpoint raised), as they would be",
            "the shop's customer webhooks (customer.created/updated): customers arrive with their orders",
            "SLA clocks and their escalations: they run on the real clock, which the compressed month never "
            "brings to an assignment or exception SLA",
            "the nightly health recompute and churn sweep (crontab entries, not compressed)",
        ]
        items += [r.note for r in results if r.count is None]
        if self.args.no_faults:
            items.append("faults (--no-faults)")
        for item in items:
            say(f"left out: {item}")
        return items

    def report(self, figures, results, left_out, failing):
        from drill import report
        from drill.figures import agent_seconds, processing_seconds
        from integrations.erp.models import ErpImport
        from lifecycle.models import ExceptionCase
        from django.db.models import Count

        sent = [json.loads(line)["t"] for line in open(self.run_dir / "shop" / "deliveries.jsonl")]
        faults = self.faults.log
        report.throughput_chart(self.work / "throughput.png", self.monitor.samples, sent, faults, self.started_at)
        report.latency_chart(self.work / "latency.png", processing_seconds(self.console.store_id),
                             agent_seconds(self.console.store_id, console.SHOP_SLUG)[0])
        report.probe_chart(self.work / "probe.png", self.probe, faults, self.started_at)
        report.probe_csv(self.work / "probe.csv", self.probe)
        status = self.shop_status()
        exceptions = {f"{kind} ({state})": n for kind, state, n in ExceptionCase.objects.values_list(
            "kind", "status").annotate(n=Count("pk")).order_by("kind", "status")}
        counts = {
            "command": self.args.command,
            "the shop": f"{status.get('orders', 0):,} orders; deliveries by kind {status.get('counts')}",
            "webhooks disabled and re-activated by operations": self.ops.reactivated or "none",
            "syncs operations started": [reason for _, reason in self.ops.synced] or "none",
            "ERP imports interrupted (a killed worker), their files taken again by the drop folder":
                list(ErpImport.objects.filter(message__startswith="Interrupted").values_list("filename", flat=True))
                or "none",
            "ERP": f"{len(self.erp.files)} daily files, {self.erp.rows_written:,} rows, {self.erp.bad_rows} "
                   f"malformed; dropped again corrected: {self.ops.redropped or 'none'}",
            "CRM edits by hand": f"{sum(e.ok for e in self.crm.edits)} landed of {len(self.crm.edits)}, "
                                 f"{sum(e.conflicting and e.ok for e in self.crm.edits)} naming another owner",
            "agents": vars(self.agents.work),
            "exceptions (kind, status)": exceptions,
            "process restarts": self.procs.restarts or "none",
            "autovacuum's work done by the drill (the server's is off)":
                f"{self.upkeep.vacuumed} vacuums, {self.upkeep.analyzed} analyzes" if self.upkeep in self.workers
                else "none (the server's autovacuum is on)",
            "load average (1 min) at each progress line": " ".join(f"{x:.1f}" for x in self.loads),
        }
        load = f"{max(self.loads or [0]):.1f} at most ({os.cpu_count()} cores)"
        text = report.markdown(args=self.args, load=load, figures=figures, results=results, faults=faults,
                               start=self.started_at, counts=counts, left_out=left_out, settled=failing,
                               charts=["throughput.png", "latency.png", "probe.png"])
        (self.work / "report.md").write_text(text)
        say(f"report: {self.work / 'report.md'}")


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # so the processes the drill started are stopped


def main(argv=None):
    signal.signal(signal.SIGTERM, _interrupted)
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    drill = Drill(args)
    try:
        drill.set_up()
        drill.run_month()
        failing = drill.catch_up()
        results = drill.check()
        figures = drill.figures()
        left_out = drill.left_out(results)
        drill.report(figures, results, left_out, failing)
    finally:
        drill.stop()
    broken = [r.name for r in results if r.count]
    if broken or failing:
        say(f"DRILL FAILED: {len(broken)} invariant(s) broken" + (", the console did not catch up" if failing else ""))
        return 1
    say("DRILL PASSED: every invariant at 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
