"""Figure: pulling changed contacts from the sandbox HubSpot (integrations/crm/pulls.py) on PostgreSQL.

Budget (issue 14): 50,000 changed contacts pulled ≥ 1,000 contacts/s processed, the sandbox's time
printed separately.

What is measured: one `crm_pull(connection=…, types=("contacts",))`, in this process as the beat's
pull_crm_changes task runs it, from an empty cursor: the keyset scan over lastmodifieddate
(windows.py: new windows before the 10,000-result cap, ties by id) through HubSpotAdapter and
hubspot-api-client over HTTP, 200 contacts a page; each page matched to customers by email, weighed
against the console's owner and stage (conflicts.claims_apply: agreeing ones clear, differing ones
open `ownership_conflict`), CrmContactState upserted, the cursor moved, committed page by page;
then conflicts_settle. The sandbox runs as its own process (`python -m integrations.crm.sandbox`):
its CPU during the pull is read from /proc and printed apart, with the time this process spent in
HTTP calls (round trips: the sandbox's search and the client's (de)serialisation) and in the pacer.

Not HubSpot's search limit: HubSpot allows 4 search requests a second, which caps a pull at about
720 contacts/s (3.6 a second under the pacer's 90% headroom, 200 a page) whatever the console does.
To time the console's processing, the sandbox's search pacing is off (its 190 requests / 10 s
Professional limit stays on) and the adapter's Pacer has search_per_second=0; the adapter's
index_lag_seconds is 0 (the sandbox indexes at once; HubSpot's default lag of 30 s would only
exclude the newest stamps). Both rates are printed: the processing rate, and what the real search
limit would allow.

The data: --contacts console customers (SQL, benchdb.seed_owned_customers: the Success team owns
each, no agent; stage active) and as many sandbox contacts of the same emails (the sandbox's bulk
control call), changed over the last hour in chunks of 1,000 sharing a lastmodifieddate each
(imports stamp alike: the tie path of the scan is exercised), lifecyclestage "customer" (what the
console's "active" maps to: agreement). One chunk in ten (--claims) also names a HubSpot owner the
console does not hold: under "console is truth" each opens an ownership_conflict.

Left out (not counted): starting the sandbox, the database's creation and migration, seeding both
sides, connecting the CRM (crm_connect's token check, owners, stages), and deals and activities
(other object types, other pages).

The database is a dedicated one, dropped and recreated on every run (benchdb.py).

    .venv/bin/python benchmarks/bench_crm_pull.py [--contacts 50000] [--claims 0.1]

Exit status: 0 when the figure was measured (PASS or FAIL), 1 on an error, or when the pull did not
process and match every contact or opened another number of conflicts than the contacts claiming.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench_crm_outbox import CallTimer, control, cpu_seconds, sandbox_start
from benchdb import migrated_bench_database, seed_owned_customers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET = 1_000  # contacts per second
TOKEN = "pat-bench-pull"
CHUNK = 1_000  # contacts sharing one lastmodifieddate
PAGE = 200  # the adapter's page size (HubSpot's search maximum)


def seed(url, contacts, claims, now):
    """Customers c0..c{n-1}@example.com (SQL) and the sandbox's contacts of the same emails;
    returns how many contacts name an owner the console does not hold."""
    from django.db import connection, transaction

    from lifecycle.db import rows
    from lifecycle.models import Customer, Ownership

    with transaction.atomic(), connection.cursor() as cursor:
        seed_owned_customers(cursor, contacts, now - timedelta(days=30))
        cursor.execute("UPDATE lifecycle_customer SET email = 'c' || (id - 1) || '@example.com'")
        for name in ("lifecycle_customer", "lifecycle_ownership"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
    rows.analyze(Customer, Ownership)
    owner = control(url, "/_sandbox/owners", {"email": "crm.only@aftercare.example", "first_name": "Crm",
                                              "last_name": "Only"})
    every = round(1 / claims) if claims else 0
    claiming, first = 0, now - timedelta(hours=1)
    for k, start in enumerate(range(0, contacts, CHUNK)):
        count = min(CHUNK, contacts - start)
        props = {"lifecyclestage": "customer", "firstname": "Bulk"}
        if every and k % every == 0:
            props["hubspot_owner_id"] = owner["id"]
            claiming += count
        stamp = int((first + timedelta(seconds=3 * k)).timestamp() * 1000)
        made = control(url, "/_sandbox/contacts/bulk", {"count": count, "modified_at": stamp, "prefix": "c",
                                                        "properties": props})
        if made["created"] != count:
            raise SystemExit(f"ERROR: the sandbox made {made['created']} of {count} contacts")
    return claiming


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--claims", type=float, default=0.1, help="share of contacts naming another owner")
    args = parser.parse_args()
    started = time.perf_counter()
    sandbox, url, _ = sandbox_start(TOKEN)
    try:
        return run(args, sandbox, url, started)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def run(args, sandbox, url, started):
    migrated_bench_database("bench_crm_pull", "CRM pull")
    from django.conf import settings
    from django.db import connection as db
    from django.utils import timezone

    from integrations.crm.connections import crm_connect
    from integrations.crm.hubspot import HubSpotAdapter
    from integrations.crm.models import CrmConnection, CrmContactState, CrmCursor
    from integrations.crm.pacing import HEADROOM, SEARCH_PER_SECOND, Pacer
    from integrations.crm.pulls import crm_pull, pull_actor
    from lifecycle.actors import Actor
    from lifecycle.models import ExceptionCase, ExceptionKind

    now = timezone.now()
    claiming = seed(url, args.contacts, args.claims, now)
    control(url, "/_sandbox/limits", {"search_per_second": 0})  # search pacing off; 190 / 10 s stays
    connection, check = crm_connect(token=TOKEN, actor=Actor.system("bench"), base_url=url,
                                    settings={"requests_per_10s": CrmConnection.Tier.PROFESSIONAL},
                                    push=False)  # the figure is the pull's: nothing queued to send
    if not check.ok:
        print(f"ERROR: the connection's check: {check.message}")
        return 1
    adapter = HubSpotAdapter(TOKEN, base_url=url, index_lag_seconds=0,
                             pacer=Pacer(connection.requests_per_10s, search_per_second=0))
    timer = CallTimer(adapter)
    limits = control(url, "/_sandbox/limits")
    print(f"database: PostgreSQL {db.pg_version // 10000}, DEBUG {'on' if settings.DEBUG else 'off'}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; sandbox {url} (own process, pid {sandbox.pid}): "
          f"{limits['per_window']} requests / {limits['window_seconds']:g} s, search pacing "
          f"{limits['search_per_second'] or 'OFF'}; adapter: Pacer({connection.requests_per_10s}, "
          f"search_per_second=0), index_lag_seconds=0, {PAGE} a page")
    print(f"setup ({args.contacts:,} customers and contacts, {claiming:,} contacts naming an owner the console does "
          f"not hold, connection checked): {time.perf_counter() - started:.1f} s (not counted)")

    before = control(url, "/_sandbox/counters")
    cpu_sandbox0, cpu0 = cpu_seconds(sandbox.pid), time.process_time()
    t0 = time.perf_counter()
    report = crm_pull(connection=connection, actor=pull_actor(connection), adapter=adapter,
                      types=(CrmCursor.ObjectType.CONTACTS,))
    elapsed = time.perf_counter() - t0
    cpu, cpu_sandbox = time.process_time() - cpu0, cpu_seconds(sandbox.pid) - cpu_sandbox0
    after = control(url, "/_sandbox/counters")

    pulled = report.records.get(CrmCursor.ObjectType.CONTACTS, 0)
    rate = pulled / elapsed
    wire = timer.seconds - adapter.pacer.waited
    console = elapsed - timer.seconds
    searches = after["requests"] - before["requests"]
    statuses = {s: n - before["by_status"].get(s, 0) for s, n in after["by_status"].items()
                if n - before["by_status"].get(s, 0)}
    print(f"crm_pull contacts: {pulled:,} contacts in {elapsed:.2f} s = {rate:,.0f} contacts/s; matched "
          f"{report.matched:,}, conflicts opened {report.conflicts:,}, echoes {report.echoes}, handoffs "
          f"{report.handoffs}, moves {report.moves}" + (f"; error: {report.error}" if report.error else ""))
    print(f"  sandbox: {searches} requests ({statuses}), 429s {after['rate_limited_total'] - before['rate_limited_total']}; "
          f"{timer.calls} HTTP calls took {timer.seconds:.2f} s, of which pacer waits {adapter.pacer.waited:.2f} s "
          f"and round trips {wire:.2f} s (sandbox CPU {cpu_sandbox:.2f} s, its own process)")
    print(f"  the console's processing (the pull's time outside HTTP calls): {console:.2f} s = "
          f"{pulled / console:,.0f} contacts/s; this process's CPU {cpu:.2f} s")
    real_rate = SEARCH_PER_SECOND * HEADROOM * PAGE
    floor = pulled / PAGE / (SEARCH_PER_SECOND * HEADROOM)
    print(f"  with HubSpot's search limit (4 a second, paced at {HEADROOM:.0%}: {real_rate:,.0f} contacts/s at "
          f"{PAGE} a page) the searches alone would take >= {floor:.0f} s: about "
          f"{pulled / max(floor, elapsed):,.0f} contacts/s for this pull")

    states = CrmContactState.objects.filter(connection=connection).count()
    conflicts = ExceptionCase.objects.filter(kind=ExceptionKind.OWNERSHIP_CONFLICT).count()
    cursor = CrmCursor.objects.get(connection=connection, object_type=CrmCursor.ObjectType.CONTACTS)
    print(f"after: {states:,} contact states, {conflicts:,} ownership_conflict cases, cursor at "
          f"{cursor.modified_at:%H:%M:%S.%f} / {cursor.last_id} ({cursor.records:,} records)")
    print(f"FIGURE crm pull {pulled:,} contacts: {rate:,.0f} contacts/s (budget >= {BUDGET:,} contacts/s, "
          f"search pacing off) {'PASS' if rate >= BUDGET else 'FAIL'}")
    if report.error or pulled != args.contacts or report.matched != args.contacts or states != args.contacts \
            or conflicts != claiming:
        print(f"ERROR: expected {args.contacts:,} contacts pulled, matched and with a state, and {claiming:,} "
              f"conflicts; got {pulled:,} pulled, {report.matched:,} matched, {states:,} states, {conflicts:,} "
              f"conflicts")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
