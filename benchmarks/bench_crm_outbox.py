"""Figures: ownership changes delivered through the CRM outbox (integrations/crm) to the sandbox HubSpot
at the Professional tier's limit (190 requests / 10 s), on PostgreSQL.

Budgets (issue 14): 10,000 ownership changes delivered ≥ 500 changes/s (the limit allows ~1,900/s with
batches of 100; the adapter's pacer keeps 90% of it, 171 requests / 10 s), zero lost, zero out of
order, zero 429s answered by the sandbox.

What is measured: the delivery, end to end, in this process as the Celery task runs it
(integrations.crm.tasks.deliver_crm_outbox calls delivery.outbox_deliver, and queues itself again while
the report says `more`; here the loop calls outbox_deliver again instead of going through a broker, so
no Redis and no worker are involved): read the due messages, supersede the older ones per customer and
field, plan the contact changes, upsert them by email in batches of 100 through HubSpotAdapter and
hubspot-api-client over HTTP (paced by the connection's Pacer), record every batch's outcome
(messages delivered, CrmContact upserted). The sandbox runs as its own process
(`python -m integrations.crm.sandbox`), so its CPU is not this process's; its CPU time during the
delivery is read from /proc and printed apart, with the time this process spent in HTTP calls and
in the pacer's waits.

The changes: --changes ownership changes (default 10,000) over --customers customers (default as many:
one change each, so every change is sent; fewer customers give several changes each, all written
before the delivery, and newest-wins supersedes the older ones, which then count as delivered only
through the newer one). Each goes through lifecycle.services.ownership.handoffs_write in batches of
--batch customers, as routing writes them (owner rows locked, Handoffs, owner rows, timeline events
and, through the outbox hook, one OutboundMessage per change, in one transaction).

Checked afterwards: lost (a change neither delivered nor superseded by a newer delivered one of its
customer, or any message pending, dead or skipped), out of order (the sandbox's final owner of every
contact against the console's owner; and, from the sandbox's request log, the owners sent for each
contact must follow the order of that customer's handoffs: no older value after a newer one), and the
sandbox's counters (429s answered, other non-200 answers).

Left out (timed apart, not counted): starting the sandbox, creating and migrating the database,
seeding customers (SQL, benchdb.seed_owned_customers), agents and HubSpot owners, connecting the CRM
(crm_connect: token check, owner links, stages), and writing the changes (their rate is printed).
The outbox's wake-ups after each commit are counted, not sent to a broker: the delivery runs after
every change is written, so what is timed is draining a backlog of 10,000, not the lag of a live one.

The database is a dedicated one, dropped and recreated on every run (benchdb.py).

    .venv/bin/python benchmarks/bench_crm_outbox.py [--changes 10000] [--customers N] [--agents 8] [--batch 500]

Exit status: 0 when the figures were measured (PASS or FAIL), 1 on an error, or when a change was lost
or applied out of order (the invariants the outbox exists for).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from benchdb import migrated_bench_database, seed_owned_customers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATE_BUDGET = 500  # changes per second
TOKEN = "pat-bench-outbox"
TICKS = os.sysconf("SC_CLK_TCK")


# --- the sandbox, a process of its own -------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sandbox_start(token, tier="professional", extra=()):
    """`python -m integrations.crm.sandbox` on a free port; returns (process, url, log path)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-crm-sandbox-", suffix=".log")[1])
    proc = subprocess.Popen([sys.executable, "-m", "integrations.crm.sandbox", "--port", str(port), "--token", token,
                             "--tier", tier, "--owners", "0", *extra], cwd=ROOT, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            control(url, "/_sandbox")
            return proc, url, log
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ERROR: the sandbox did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def control(url, path, body=None, timeout=120):
    """A sandbox control call (JSON in, JSON out)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class CallTimer:
    """Wraps the adapter's one way out (_call): seconds spent in HTTP calls (pacer waits included,
    counted apart by the pacer)."""

    def __init__(self, adapter):
        self.seconds, self.calls, inner = 0.0, 0, adapter._call

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        adapter._call = timed


# --- seeding ---------------------------------------------------------------------------------------
def seed(customers, agents, url):
    """Customers (SQL), agents in the Success team with HubSpot owners of their email in the sandbox."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from lifecycle.db import rows
    from lifecycle.models import Agent, Customer, Ownership, Team

    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        seed_owned_customers(cursor, customers, now - timedelta(days=30))
        for name in ("lifecycle_customer", "lifecycle_ownership"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
    rows.analyze(Customer, Ownership)
    team = Team.objects.get(slug="success")
    made = []
    for n in range(agents):
        email = f"bench.agent{n}@aftercare.example"
        user = User.objects.create_user(f"bench-agent-{n}", email=email, first_name="Bench", last_name=f"Agent{n}",
                                        is_staff=True)
        agent = Agent.objects.create(user=user, capacity=30_000)
        agent.teams.add(team)
        control(url, "/_sandbox/owners", {"email": email, "first_name": "Bench", "last_name": f"Agent{n}"})
        made.append(agent)
    return team, list(Agent.objects.select_related("user").filter(pk__in=[a.pk for a in made]).order_by("pk"))


def plan(changes, customers, agents):
    """[(customer id, agent)] in write order: change i moves customer i % customers to the next agent
    of its rotation, always another owner than its last (the first change: from the team alone)."""
    return [((i % customers) + 1, agents[((i % customers) + i // customers) % len(agents)]) for i in range(changes)]


def write_changes(calls, team, batch):
    """Every change through handoffs_write, `batch` customers per transaction (none twice in one)."""
    from django.db import transaction

    from lifecycle.actors import Actor
    from lifecycle.db import owners as owner_rows
    from lifecycle.models import Customer
    from lifecycle.services.ownership import Transfer, handoffs_write

    actor, written, start = Actor.system("bench"), 0, 0
    while start < len(calls):
        chunk, seen = [], set()
        while start < len(calls) and len(chunk) < batch and calls[start][0] not in seen:
            seen.add(calls[start][0])
            chunk.append(calls[start])
            start += 1
        with transaction.atomic():
            customers = Customer.objects.in_bulk([c for c, _ in chunk])
            owners, reserved = owner_rows.lock_owners([c for c, _ in chunk])
            transfers = [Transfer(customer=customers[c], current=owners.get(c), team=team, agent=agent,
                                  reason="Benchmark rotation", actor=actor, rule="bench", start_clock=False,
                                  handoff_id=reserved.get(c)) for c, agent in chunk]
            written += len(handoffs_write(transfers))
    return written


# --- checks ----------------------------------------------------------------------------------------
def check_order(url, since, connection):
    """(contacts checked, [problems]) from the request log: per contact, the owners sent (200 answers,
    in the order the sandbox served them) must be a subsequence of its handoffs' owners, in order."""
    from integrations.crm.models import CrmOwnerLink
    from lifecycle.models import Handoff

    log = control(url, f"/_sandbox/requests?since={since}")
    problems = []
    if log and log[0]["n"] != since + 1:
        problems.append(f"the sandbox's request log starts at #{log[0]['n']}, not #{since + 1}: "
                        "it dropped requests (its log keeps 5,000), the order check is partial")
    sent = defaultdict(list)
    for entry in log:
        if entry["path"].endswith("/contacts/batch/upsert") and entry["status"] == 200 and entry["body"]:
            for item in entry["body"].get("inputs") or []:
                props = item.get("properties") or {}
                if "hubspot_owner_id" in props:
                    sent[item["id"].lower()].append((entry["n"], props["hubspot_owner_id"]))
    links = dict(CrmOwnerLink.objects.filter(connection=connection).values_list("agent_id", "owner_id"))
    history = defaultdict(list)
    for customer_id, agent_id in Handoff.objects.order_by("pk").values_list("customer_id", "to_agent_id"):
        history[f"c{customer_id}@example.com"].append(links.get(agent_id, "") if agent_id else "")
    for email, values in sent.items():
        expected, at = history.get(email, []), -1
        for n, value in values:
            nxt = next((k for k in range(at + 1, len(expected)) if expected[k] == value), None)
            if nxt is None:
                problems.append(f"{email}: owner {value} sent in request #{n} after a newer owner "
                                f"(sent {[v for _, v in values]}, handoffs {expected})")
                break
            at = nxt
    return len(sent), problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=None, help="default: as many as changes")
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500, help="customers per handoffs_write transaction")
    args = parser.parse_args()
    customers = args.customers or args.changes
    if args.agents < 2:
        raise SystemExit("--agents must be at least 2: every change must be a real one")

    started = time.perf_counter()
    sandbox, url, sandbox_log = sandbox_start(TOKEN)
    try:
        return run(args, customers, sandbox, url, started)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def run(args, customers, sandbox, url, started):
    migrated_bench_database("bench_crm_outbox", "CRM outbox")
    from django.conf import settings
    from django.db import connection as db
    from django.db.models import Max

    from integrations.crm import outbox
    from integrations.crm.connections import adapter_for, crm_connect
    from integrations.crm.delivery import outbox_deliver
    from integrations.crm.models import CrmConnection, CrmOwnerLink, OutboundMessage
    from integrations.woocommerce.wakeups import Wakeups
    from lifecycle.actors import Actor
    from lifecycle.models import Handoff, Ownership

    team, agents = seed(customers, args.agents, url)
    connection, check = crm_connect(token=TOKEN, actor=Actor.system("bench"), base_url=url,
                                    settings={"requests_per_10s": CrmConnection.Tier.PROFESSIONAL},
                                    push=False)  # the figure is the changes', not a first push of the seeded customers
    if not check.ok or len(check.linked) != len(agents):
        print(f"ERROR: the connection's check: {check.message}")
        return 1
    setup = time.perf_counter() - started
    print(f"database: PostgreSQL {db.pg_version // 10000}, DEBUG {'on' if settings.DEBUG else 'off'}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; sandbox {url} (own process, pid {sandbox.pid}, "
          f"tier professional: 190 requests / 10 s)")
    print(f"setup ({customers:,} customers, {len(agents)} agents linked to HubSpot owners, connection checked): "
          f"{setup:.1f} s (not counted)")

    kicks = []
    outbox._wakeups = Wakeups(lambda connection_id, delay: kicks.append(delay), interval=outbox.KICK_SECONDS)
    calls = plan(args.changes, customers, agents)
    t0 = time.perf_counter()
    written = write_changes(calls, team, args.batch)
    took = time.perf_counter() - t0
    messages = OutboundMessage.objects.filter(connection=connection, field="owner").count()
    print(f"{written:,} ownership changes written through handoffs_write ({args.batch} a transaction): "
          f"{took:.2f} s = {written / took:,.0f} changes/s, {messages:,} outbox messages, "
          f"{len(kicks)} wake-ups (not sent to a broker; not counted)")
    if written != args.changes or messages != args.changes:
        print(f"ERROR: {written:,} handoffs and {messages:,} outbox messages for {args.changes:,} changes")
        return 1

    adapter = adapter_for(connection)
    timer, waited0 = CallTimer(adapter), adapter.pacer.waited
    before = control(url, "/_sandbox/counters")
    log_since = before["requests"]  # the request log numbers requests from 1
    actor = Actor.task("deliver_crm_outbox")
    runs, totals = 0, Counter()
    cpu_sandbox0, cpu0 = cpu_seconds(sandbox.pid), time.process_time()
    t0 = time.perf_counter()
    while True:
        report = outbox_deliver(connection=connection, actor=actor)
        runs += 1
        for name in ("delivered", "superseded", "skipped", "parked", "retrying", "dead", "batches", "resent"):
            totals[name] += getattr(report, name)
        if report.stopped or report.busy or not report.more or runs > 1000:
            break
    elapsed = time.perf_counter() - t0
    cpu, cpu_sandbox = time.process_time() - cpu0, cpu_seconds(sandbox.pid) - cpu_sandbox0
    after = control(url, "/_sandbox/counters")
    waited = adapter.pacer.waited - waited0

    rate = args.changes / elapsed
    print(f"delivery of {args.changes:,} changes ({customers:,} customers): {elapsed:.2f} s in {runs} run(s) of "
          f"outbox_deliver, {totals['batches']} upsert batches; messages delivered {totals['delivered']:,}, "
          f"superseded {totals['superseded']:,}, skipped {totals['skipped']}, parked {totals['parked']}, "
          f"retrying {totals['retrying']}, dead {totals['dead']}" + (f"; stopped: {report.stopped}" if report.stopped else ""))
    print(f"  time: {timer.calls} HTTP calls took {timer.seconds:.2f} s in all, of which {waited:.2f} s waiting "
          f"for the pacer and {timer.seconds - waited:.2f} s on the wire and in the sandbox; sandbox CPU "
          f"{cpu_sandbox:.2f} s (its own process); this process's CPU {cpu:.2f} s; the rest "
          f"({elapsed - timer.seconds:.2f} s) outside HTTP calls: the deliverer's reads, planning and bookkeeping")

    # --- what reached the CRM -------------------------------------------------------------------------
    states = Counter(OutboundMessage.objects.filter(connection=connection).values_list("state", flat=True))
    waiting = {s: n for s, n in states.items() if s not in ("delivered", "superseded")}
    links = dict(CrmOwnerLink.objects.filter(connection=connection).values_list("agent_id", "owner_id"))
    console = {f"c{c}@example.com": links.get(a, "") if a else ""
               for c, a in Ownership.objects.values_list("customer_id", "agent_id")}
    crm = {r["properties"].get("email"): r["properties"].get("hubspot_owner_id") or ""
           for r in control(url, "/_sandbox/state?type=contacts")["contacts"]}
    missing = [e for e in console if e not in crm]
    wrong = [(e, console[e], crm[e]) for e in console if e in crm and crm[e] != console[e]]
    # A superseded message is lost when no newer message of its customer was delivered.
    newest_delivered = dict(OutboundMessage.objects.filter(connection=connection, state="delivered", field="owner")
                            .values_list("customer_id").annotate(last=Max("pk")).values_list("customer_id", "last"))
    orphans = OutboundMessage.objects.filter(connection=connection, state="superseded").exclude(
        customer_id__in=list(newest_delivered)).count()
    lost = sum(waiting.values()) + orphans + len(missing)
    checked, order_problems = check_order(url, log_since, connection)
    out_of_order = len(wrong) + len(order_problems)
    limited = after["rate_limited_total"] - before["rate_limited_total"]
    statuses = {s: n - before["by_status"].get(s, 0) for s, n in after["by_status"].items()
                if n - before["by_status"].get(s, 0)}
    print(f"outbox after: {dict(states)}; handoffs {Handoff.objects.count():,}")
    print(f"sandbox: {after['requests'] - before['requests']} API requests answered during the delivery, by status "
          f"{statuses}; 429s {limited} ({after['rate_limited']})")
    print(f"lost: {lost} ({sum(waiting.values())} messages not delivered {waiting or ''}, {orphans} superseded without "
          f"a newer delivered one, {len(missing)} customers with no contact in the sandbox)")
    print(f"out of order: {out_of_order} ({len(wrong)} contacts whose sandbox owner is not the console's owner, of "
          f"{len(console):,}; {len(order_problems)} contacts, of {checked:,} in the request log, sent an older "
          f"owner after a newer one)")
    for line in ([f"  owner differs: {e} console {c!r} sandbox {s!r}" for e, c, s in wrong[:5]] + order_problems[:5]
                 + [f"  no contact: {e}" for e in missing[:5]]):
        print(line)

    print(f"FIGURE crm outbox {args.changes:,} ownership changes: {rate:,.0f} changes/s (budget >= {RATE_BUDGET} "
          f"changes/s) {'PASS' if rate >= RATE_BUDGET else 'FAIL'}")
    print(f"FIGURE crm outbox lost changes: {lost} changes (budget <= 0 changes) {'PASS' if lost == 0 else 'FAIL'}")
    print(f"FIGURE crm outbox out-of-order changes: {out_of_order} changes (budget <= 0 changes) "
          f"{'PASS' if out_of_order == 0 else 'FAIL'}")
    print(f"FIGURE crm outbox 429s answered by the sandbox: {limited} requests (budget <= 0 requests) "
          f"{'PASS' if limited == 0 else 'FAIL'}")
    if lost or out_of_order or report.stopped:
        print("INTEGRITY ERROR: changes were lost or applied out of order (see above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
