"""Delivering deals: each order's newest change (deal_changes.py) as a deal upserted by the console's
order key in batches of at most 100, linked to the customer's contact, after the round's contacts.

The outcome of a batch is recorded as contacts' are (outcomes.py): delivered messages are done and
each order's CrmDeal keeps the deal's id, stage and what was sent (the echo a later pull recognises);
a deal HubSpot refused is a dead letter with its sentence; errors of the whole batch retry or stop.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Min

from integrations.crm import deal_changes, deals, failures
from integrations.crm.base import CrmError
from integrations.crm.models import CrmContact, CrmDeal, OutboundMessage
from integrations.crm.outcomes import dead, delivered, failed, pending, retry, set_aside
from lifecycle.models import Order
from lifecycle.statuses import CANONICAL, map_status

BATCH = 100  # HubSpot's batch upsert takes at most 100 inputs
M = OutboundMessage.State
CONTACT_FIRST = "contact_first"  # OutboundMessage.error_kind of a deal waiting for its contact


def deals_deliver(connection, adapter, messages, actor, report, clock, ready):
    """Send the deal messages of a round (pending, newest per order); stops where the run must
    (ready(): "" while the next batch may go, else why not)."""
    messages = _contacts_first(connection, messages, clock(), report)
    if not messages:
        return
    orders = Order.objects.select_related("customer").in_bulk({m.order_id for m in messages})
    rows = _rows(connection, orders.values())
    mapping = deals.deal_stage_map(connection.pk)

    def meaning(stage):
        result = map_status(stage, mapping, deals.SYSTEM)
        return result.state if result.outcome == CANONICAL else None

    plan = deal_changes.plan_build(messages, orders=orders, push=deals.push_stages(connection.pk), meaning=meaning,
                                   current={order_id: row.dealstage for order_id, row in rows.items()})
    set_aside(plan.skipped, [], clock(), report)
    for start in range(0, len(plan.changes), BATCH):
        report.stopped = ready()
        if report.stopped:
            return
        if not _send(connection, adapter, plan.changes[start:start + BATCH], orders, rows, actor, report, clock):
            return


def _contacts_first(connection, messages, now, report):
    """The messages whose customer's contact is in HubSpot, or has nothing on its way to it. A deal
    whose contact was never delivered and still waits (for its retry after an outage, say) waits
    with it, uncounted, until the contact's own next try: it is then sent in the round after it."""
    customer_ids = {m.customer_id for m in messages}
    known = set(CrmContact.objects.filter(connection=connection, customer_id__in=customer_ids)
                .values_list("customer_id", flat=True))
    waiting = dict(OutboundMessage.objects.filter(connection=connection, state=M.PENDING,
                                                  customer_id__in=customer_ids - known)
                   .exclude(field=OutboundMessage.Field.DEAL).order_by().values_list("customer_id")
                   .annotate(first=Min("next_attempt_at")))
    held = [m for m in messages if m.customer_id in waiting]
    for customer_id in {m.customer_id for m in held}:
        pending(connection).filter(pk__in=[m.pk for m in held if m.customer_id == customer_id]).update(
            next_attempt_at=max(waiting[customer_id], now), error_kind=CONTACT_FIRST,
            last_error="Waits for the customer's contact, which goes to HubSpot first.")
    report.parked += len(held)
    return [m for m in messages if m.customer_id not in waiting]


def _rows(connection, orders):
    """{order id: CrmDeal} of the orders that have a deal in this connection's CRM."""
    by_ref = {(o.system, o.namespace, o.number): o.pk for o in orders}
    found = CrmDeal.objects.filter(connection=connection, order_number__in={number for _, _, number in by_ref})
    return {by_ref[ref]: row for row in found
            if (ref := (row.order_system, row.order_namespace, row.order_number)) in by_ref}


def _send(connection, adapter, chunk, orders, rows, actor, report, clock):
    """Send one batch and record its outcome; False when the run must stop."""
    report.batches += 1
    try:
        result = adapter.upsert_deals([change for change, _ in chunk])
    except CrmError as error:
        return failed(connection, [m for _, ms in chunk for m in ms], error, actor, report, clock())
    now, sent = clock(), {change.key: (change, messages) for change, messages in chunk}
    ok = {r.key: r for r in result.ok if r.key in sent}
    refused = {e.key: e.message for e in result.errors if e.key in sent and not e.retryable}
    later = {e.key: e.message for e in result.errors if e.key in sent and e.retryable}
    with transaction.atomic():
        done = [m.pk for key in ok for m in sent[key][1]]
        delivered(connection, done, now)
        _record(connection, [(orders[sent[key][1][0].order_id], sent[key][0], answer) for key, answer in ok.items()],
                rows, now)
        for key, why in refused.items():
            dead(connection, [m.pk for m in sent[key][1]], failures.ITEM, why, actor, report)
        for key, why in later.items():  # linked once its contact is there: counted, waits its backoff
            retry(connection, sent[key][1], failures.ITEM, why, now, actor, report)
        silent = [m for key, (_, ms) in sent.items() if key not in ok and key not in refused and key not in later
                  for m in ms]
        if silent:
            retry(connection, silent, "server", "HubSpot answered nothing for this deal.", now, actor, report)
    report.delivered += len(done)
    return True


def _record(connection, done, rows, now):
    """Each delivered order's deal: its id, stage and amount as HubSpot answered, and what was sent."""
    if not done:
        return
    CrmDeal.objects.bulk_create([
        CrmDeal(connection=connection, deal_id=str(answer.id), order_system=order.system,
                order_namespace=order.namespace, order_number=order.number,
                dealstage=(answer.properties.get(deals.STAGE_PROPERTY) or "")[:64],
                amount=(answer.properties.get("amount") or "")[:32],
                currency=(answer.properties.get("deal_currency_code") or "")[:3],
                modified_at=_stamp(answer.properties.get("hs_lastmodifieddate")) or now,
                pushed={**(rows[order.pk].pushed if order.pk in rows else {}), **change.properties})
        for order, change, answer in done],
        update_conflicts=True, unique_fields=["connection", "deal_id"],
        update_fields=["order_system", "order_namespace", "order_number", "dealstage", "amount", "currency",
                       "modified_at", "pushed"])


def _stamp(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
