"""When the console has caught up with the month: the moment the invariants are counted.

Waited for, never slept on: each condition is polled until it holds, within a generous timeout, and
then held for a quiet period (two runs of the beat's every-minute sweeps, compressed) so the sweeps
that follow the last change (routing, journeys, health) have run once more.
- the shop is done and its senders are empty;
- no accepted delivery waits (received or failed);
- the drop folder is empty (every export imported, rejected ones dropped again by operations);
- no outbound CRM message is pending (retries after the outage included);
- reconciliation ran after the last source state arrived;
- when a genuine delivery of the shop was lost (failed and not stored: a fault), a backfill of the
  store finished that started after the last one: WooCommerce does not retry, the backfill repairs.
"""

import time
from datetime import UTC, datetime

from drill.dbsafe import database_errors, fresh_connection


def conditions(*, shop_status, erp, store_id, last_failed_delivery):
    from django.db.models import Max

    from integrations.crm.models import OutboundMessage
    from integrations.models import InboundEvent, SyncRun
    from lifecycle.models import OrderSourceState, ReconcileWatermark

    status = shop_status()
    newest = OrderSourceState.objects.aggregate(at=Max("received_at"))["at"]
    mark = ReconcileWatermark.objects.first()
    found = {
        "the shop is done": bool(status.get("done")) and not status.get("queued"),
        "no delivery waits": not InboundEvent.objects.filter(store_id=store_id, status__in=["received", "failed"]).exists(),
        "the drop folder is empty": not erp.pending_files(),
        "no CRM message is pending": not OutboundMessage.objects.filter(state="pending").exists(),
        "reconciliation ran after the last source state": bool(
            mark and mark.last_run_at and (newest is None or mark.last_run_at > newest)),
    }
    if last_failed_delivery:
        since = datetime.fromtimestamp(last_failed_delivery, UTC)
        found["a backfill ran after the last lost delivery"] = SyncRun.objects.filter(
            store_id=store_id, status="succeeded", started_at__gt=since).exists()
    return found


def settle(*, timeout, quiet, report, tick, **facts):
    """Wait until every condition holds, then `quiet` seconds more with them holding; returns the
    conditions still failing at the deadline ({} when settled). `tick()` runs every second (the
    supervisor's look at the processes)."""
    deadline, holding_since, last_print = time.monotonic() + timeout, None, 0.0
    failing = {}
    while time.monotonic() < deadline:
        tick()
        try:
            fresh_connection()
            found = conditions(**facts)
        except database_errors():
            time.sleep(1)
            continue
        failing = {name: held for name, held in found.items() if not held}
        if failing:
            holding_since = None
            if time.monotonic() - last_print > 15:
                report("  settling: waiting for " + "; ".join(failing))
                last_print = time.monotonic()
        elif holding_since is None:
            holding_since = time.monotonic()
        elif time.monotonic() - holding_since >= quiet:
            return {}
        time.sleep(1)
    return failing
