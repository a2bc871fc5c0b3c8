"""Figure: handoffs through the service on PostgreSQL, single process.

Budget: ≥ 500 handoffs/s for 10,000 handoffs across 1,000 customers. Each handoff is one call of
lifecycle.services.ownership.ownership_transfer (lock the customer, lock its Ownership, insert the
Handoff, update the Ownership, insert the timeline event, commit), every call a real change.

The database is a dedicated one, dropped and recreated on every run: BENCH_DATABASE_URL if set,
else the server of DATABASE_URL (when it is PostgreSQL) with "_bench" added to the database name,
else postgres://postgres@127.0.0.1:5432/aftercare_bench. It never drops a database it did not name.

Exit status: 0 when the figure was measured (PASS or FAIL against the budget), 1 on an error or
when the data breaks an invariant afterwards (handoff count, one Ownership per customer).
"""

import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import migrated_bench_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CUSTOMERS = 1_000
HANDOFFS = 10_000
BUDGET = 500  # handoffs per second (ARCHITECTURE: one figure per script, with its budget)
TEAMS = {"commerce": 3, "support": 3, "success": 4}  # agents per team; the owners calls rotate through


def setup_data():
    """1,000 customers, each with a first order (so each has an owner), and agents in three teams."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from lifecycle.actors import Actor
    from lifecycle.models import Agent, Customer, Team
    from lifecycle.services.customers import customer_create
    from lifecycle.services.orders import order_create

    actor = Actor.system("bench")
    owners = []
    for slug, count in TEAMS.items():
        team = Team.objects.get(slug=slug)
        for n in range(count):
            user = User.objects.create_user(f"bench-{slug}-{n}", is_staff=True)
            # A capacity no one reaches: routing must not leave customers unassigned mid-benchmark.
            agent = Agent.objects.create(user=user, capacity=30_000)
            agent.teams.add(team)
            owners.append((team, Agent.objects.select_related("user").prefetch_related("teams").get(pk=agent.pk)))
    now = timezone.now()
    for i in range(CUSTOMERS):
        customer = customer_create(actor=actor, display_name=f"Bench customer {i}", email=f"bench{i}@example.com")
        order_create(customer=customer, actor=actor, external_id=i, number=i, total=Decimal("49.90"),
                     currency="EUR", placed_at=now)
    return list(Customer.objects.order_by("pk")), owners


def plan_calls(customers, owners):
    """10,000 (customer, team, agent) calls, 10 per customer, each a different owner than the last."""
    from lifecycle.models import Ownership

    current = {o.customer_id: (o.team_id, o.agent_id) for o in Ownership.objects.all()}
    calls = []
    for i in range(HANDOFFS):
        customer = customers[i % len(customers)]
        k = i // len(customers) + customer.pk
        team, agent = owners[k % len(owners)]
        if current[customer.pk] == (team.pk, agent.pk):
            team, agent = owners[(k + 1) % len(owners)]
        current[customer.pk] = (team.pk, agent.pk)
        calls.append((customer, team, agent))
    return calls


def main():
    started = time.perf_counter()
    url = migrated_bench_database("bench", "handoff")
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count

    from lifecycle.actors import Actor
    from lifecycle.models import Customer, Handoff, Ownership
    from lifecycle.services.ownership import ownership_transfer

    customers, owners = setup_data()
    calls = plan_calls(customers, owners)
    setup = time.perf_counter() - started
    where = urlsplit(url)
    print(f"database: {where.hostname}:{where.port or 5432}{where.path} (PostgreSQL {connection.pg_version // 10000}), "
          f"DEBUG {'on' if settings.DEBUG else 'off'}, one process")
    print(f"setup (create db, migrate, {CUSTOMERS} customers with a first order, {len(owners)} agents "
          f"in {len(TEAMS)} teams): {setup:.1f} s (not counted)")

    handoffs_before = Handoff.objects.count()
    actor = Actor.system("bench")
    load_before = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for customer, team, agent in calls:
        if ownership_transfer(customer=customer, team=team, agent=agent, reason="Benchmark rotation",
                              actor=actor, rule="bench") is None:
            print(f"ERROR: a planned handoff of customer #{customer.pk} changed nothing")
            return 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rate = HANDOFFS / elapsed

    written = Handoff.objects.count() - handoffs_before
    owner_rows = dict(Ownership.objects.values_list("customer_id").annotate(n=Count("pk")))
    bad = [pk for pk in Customer.objects.values_list("pk", flat=True) if owner_rows.get(pk) != 1]
    print(f"{HANDOFFS} handoffs across {CUSTOMERS} customers: {elapsed:.2f} s, {rate:.0f} handoffs/s, "
          f"{elapsed / HANDOFFS * 1000:.2f} ms each")
    # On a shared machine the wall clock includes waiting for a CPU: the load average and this
    # process's own CPU time per handoff (PostgreSQL's work not included) tell how much.
    print(f"this process's CPU: {cpu / HANDOFFS * 1000:.2f} ms per handoff; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    status = "PASS" if rate >= BUDGET else "FAIL"
    print(f"FIGURE handoffs_per_second: {rate:.0f} handoffs/s (budget >= {BUDGET} handoffs/s) {status}")
    if written != HANDOFFS or bad:
        print(f"INTEGRITY ERROR: {written} handoff rows written (expected {HANDOFFS}); "
              f"{len(bad)} customers without exactly one Ownership row (first: {bad[:5]})")
        return 1
    print(f"integrity: {written} handoff rows written, every customer has exactly one Ownership row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
