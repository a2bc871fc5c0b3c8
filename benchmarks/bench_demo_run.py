"""Figure: a ten-minute `make run` at the sandbox shop's default rate leaves no customer without an
agent past the assignment SLA.

    .venv/bin/python benchmarks/bench_demo_run.py              # ten minutes, as the issue names it
    .venv/bin/python benchmarks/bench_demo_run.py --minutes 2  # a shorter look

It runs what `make run` runs, in a folder of its own (var/bench/demo-run/: its SQLite database, its
filesystem broker and its logs; your demo under var/ is left alone): migrate, seed_demo,
connect_demo_store, then the Procfile (runserver, a worker, beat and the sandbox shop sending a
webhook for every change, 2 new orders per 5-second tick on average) under honcho.

Every 30 seconds, and at the end, it reads the database and prints: customers, with an agent,
waiting for an agent (and of those: claimable in their team's queue, escalated to the managers,
with no clock running), and waiting while an agent of their team on shift had room.

Budget: 0 customers without an agent past the assignment SLA (their `unassigned_customer` clock
past due, or waiting longer than its SLA with no clock running). Also checked, as invariants (exit
1 when broken): every customer with orders has an owner; every waiting customer is visibly
claimable (an open clock, in its team's queue or escalated, or a manager's dismissal on record);
at the end nobody waits while their team has room for longer than the one-minute sweep.

Left out: people. Nobody claims or resolves anything during the run: the figure is what the
routing and the loop do on their own.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK = ROOT / "var" / "bench" / "demo-run"
SWEEP_SECONDS = 60  # the beat routes waiting customers every minute (console/settings.py)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare():
    """A fresh folder, database and demo; returns the environment the processes share."""
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "broker").mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{WORK / 'demo.sqlite3'}", "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(WORK / "broker"), "WEB_PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()), "SANDBOX_CONSUMER_KEY": f"ck_{secrets.token_hex(20)}",
        "SANDBOX_CONSUMER_SECRET": f"cs_{secrets.token_hex(20)}", "SANDBOX_WEBHOOK_SECRET": secrets.token_hex(20),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1",
    }
    for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo"], ["connect_demo_store"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return env


def counts(now):
    """What the database says now, as the printed figures."""
    from django.db.models import Exists, OuterRef

    from lifecycle.models import OPEN_STATUSES, Customer, ExceptionCase, Order, Ownership
    from lifecycle.selectors.routing import agent_loads
    from lifecycle.services.sla import policy_for

    clock = ExceptionCase.objects.filter(kind="unassigned_customer", customer_id=OuterRef("customer_id"),
                                         status__in=OPEN_STATUSES)
    dismissed = ExceptionCase.objects.filter(kind="unassigned_customer", customer_id=OuterRef("customer_id"),
                                             status="dismissed")
    waiting = Ownership.objects.filter(agent__isnull=True).annotate(clock=Exists(clock),
                                                                    dismissed=Exists(dismissed))
    sla = timedelta(minutes=policy_for("unassigned_customer").sla_minutes)
    rows = list(waiting.values("customer_id", "team_id", "since", "clock", "dismissed"))
    due = dict(ExceptionCase.objects.filter(kind="unassigned_customer", status__in=OPEN_STATUSES)
               .values_list("customer_id", "due_at"))
    queues = dict(ExceptionCase.objects.filter(kind="unassigned_customer", status__in=OPEN_STATUSES)
                  .values_list("customer_id", "queue_id"))
    room = {}
    for team_id in {r["team_id"] for r in rows}:
        room[team_id] = sum(max(0, load.capacity - load.open_items) for load in agent_loads(team_id)
                            if load.is_available and load.is_active)
    past_sla = [r for r in rows if (r["clock"] and due[r["customer_id"]] < now)
                or (not r["clock"] and r["since"] + sla < now)]
    return {
        "customers": Customer.objects.filter(orders__isnull=False).distinct().count(),
        "orders": Order.objects.count(),
        "with an agent": Ownership.objects.filter(agent__isnull=False).count(),
        "waiting": len(rows),
        "claimable in their team's queue": sum(1 for r in rows if r["clock"] and queues[r["customer_id"]]),
        "escalated to the managers": sum(1 for r in rows if r["clock"] and not queues[r["customer_id"]]),
        "waiting with no clock": sum(1 for r in rows if not r["clock"]),
        "not visibly claimable": sum(1 for r in rows if not r["clock"] and not r["dismissed"]),
        "waiting while their team had room": sum(
            1 for r in rows if room[r["team_id"]] and r["since"] + timedelta(seconds=2 * SWEEP_SECONDS) < now),
        "without an owner": Customer.objects.filter(orders__isnull=False, ownership__isnull=True).distinct().count(),
        "past SLA": len(past_sla),
    }


def show(label, figures):
    print(f"[{label}] " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    started = time.monotonic()
    env = prepare()
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_FILESYSTEM_DIR")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.utils import timezone

    print(f"setup (migrate, seed_demo, connect_demo_store in {WORK}): {time.monotonic() - started:.0f} s")
    show("start", counts(timezone.now()))
    log = open(WORK / "processes.log", "wb")
    procs = subprocess.Popen([str(BIN / "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end and procs.poll() is None:
            time.sleep(min(30, max(0.0, end - time.monotonic())))
            minute = (args.minutes * 60 - (end - time.monotonic())) / 60
            show(f"{minute:.1f} min", counts(timezone.now()))
        if procs.poll() is not None:
            print(f"ERROR: the processes stopped early (log: {WORK / 'processes.log'})")
            return 1
    finally:
        if procs.poll() is None:
            os.killpg(procs.pid, signal.SIGTERM)
            try:
                procs.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(procs.pid, signal.SIGKILL)
        log.close()
    final = counts(timezone.now())
    show("end", final)
    print("left out: people (nobody claims or resolves during the run); the sandbox's default rate only")
    status = "PASS" if final["past SLA"] == 0 else "FAIL"
    print(f"FIGURE customers_without_agent_past_sla: {final['past SLA']} customers after {args.minutes:g} minutes "
          f"(budget = 0 customers) {status}")
    broken = {k: final[k] for k in ("without an owner", "not visibly claimable", "waiting while their team had room")
              if final[k]}
    if broken or final["orders"] == 0:
        print(f"INVARIANT BROKEN: {broken or 'no order arrived from the sandbox shop'} "
              f"(log: {WORK / 'processes.log'})")
        return 1
    print("invariants: every customer with orders has an owner; every waiting customer is visibly claimable; "
          "nobody waits while their team has room")
    return 0


if __name__ == "__main__":
    sys.exit(main())
