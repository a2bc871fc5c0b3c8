"""The promises about what the systems say, counted at the end: every disagreement between the shop, the
ERP and the CRM owned by an exception, nothing the shop said lost, nothing the console sent the CRM lost
or applied out of order. Same shape as invariants.py.
"""

from datetime import timedelta
from decimal import Decimal

from drill.invariants import EXAMPLES, OPEN, Result


def shop_word_kept(final, slug):
    """Orders whose shop source state is not the shop's last word (DOMAIN.md invariant 5, nothing inbound
    lost: lost deliveries are the backfill's to repair)."""
    from lifecycle.models import Order, OrderSourceState

    have = dict(OrderSourceState.objects.filter(system="woocommerce", order__namespace=slug)
                .values_list("order__external_id", "raw_status"))
    found = [f"order {oid}: shop says {o['status']}, console {have.get(oid, 'nothing')}"
             for oid, o in final.items() if have.get(oid) != o["status"]]
    extra = Order.objects.filter(system="woocommerce", namespace=slug).exclude(external_id__in=list(final)).count()
    found += [f"{extra} orders the shop never had"] if extra else []
    return Result("shop orders not at the shop's last status", len(found), found[:EXAMPLES])


def states_owned():
    """Orders whose systems disagree, as the active tolerance rules define it and past their windows (as
    of the last reconciliation run), or whose canonical state agrees with none of its systems, without
    an open state_mismatch (or an open unmapped_status for a status nobody mapped)."""
    from lifecycle import statuses
    from lifecycle.models import ExceptionCase, Order, OrderSourceState, ReconcileWatermark, ToleranceRule
    from lifecycle.services.reconcile import status_meanings_of

    mark = ReconcileWatermark.objects.first()
    if mark is None or mark.last_run_at is None:
        return Result("orders whose state disagrees with a system's without state_mismatch or unmapped_status",
                      None, note="left out: reconciliation never ran")
    as_of = mark.last_run_at
    rules = list(ToleranceRule.objects.filter(active=True))
    meanings = {system: status_meanings_of(system) for system in ("woocommerce", "erp", "crm")}
    orders = {pk: (system, ns, state, total) for pk, system, ns, state, total in
              Order.objects.values_list("pk", "system", "namespace", "state", "total")}
    sides = {}
    for order_id, system, raw, observed, received, total in OrderSourceState.objects.values_list(
            "order_id", "system", "raw_status", "observed_at", "received_at", "total"):
        sides.setdefault(order_id, {})[system] = (raw, observed, received, total)
    mismatched = {int(k.split(":", 1)[1]) for k in ExceptionCase.objects.filter(
        kind="state_mismatch", status__in=OPEN, subject_key__startswith="order:").values_list("subject_key", flat=True)}
    unmapped = {(e["system"], statuses.status_key(e["raw_status"], e["system"])) for e in ExceptionCase.objects.filter(
        kind="unmapped_status", status__in=OPEN).values_list("evidence", flat=True) if "raw_status" in e}
    found, later = [], 0
    for order_id, systems in sides.items():
        system, namespace, state, total = orders[order_id]
        if any(received > as_of - timedelta(seconds=1) for _, _, received, _ in systems.values()):
            later += 1  # arrived after the last run compared: the next run's to judge
            continue
        read, unmapped_here = {}, set()
        for name, (raw, observed, _, own_total) in systems.items():
            mapping = meanings[name]
            key = statuses.status_key(raw, name)
            meaning = (mapping.get(namespace, {}).get(key) if name == system else None) or mapping.get("", {}).get(key)
            if meaning not in statuses.CANONICAL_STATES:
                unmapped_here.add(name)  # never compared: its unmapped_status owns it
                if (name, key) not in unmapped and meaning != statuses.IGNORE:
                    found.append(f"order {order_id}: {name} status {raw!r} unmapped, no unmapped_status")
                continue
            read[name] = (meaning, observed, own_total if own_total is not None else (total if name == system else None))
        if order_id in mismatched:
            continue
        broken = [r.sentence for r in rules if not {r.left_system, r.right_system} & unmapped_here
                  and _breaks(r, read, as_of)]
        if read and not any(statuses.agrees(meaning, state) for meaning, _, _ in read.values()):
            broken.append(f"its state {state} agrees with none of {sorted(m for m, _, _ in read.values())}")
        if broken:
            found.append(f"order {order_id}: {broken[0]}")
    return Result("orders whose state disagrees with a system's without state_mismatch or unmapped_status",
                  len(found), found[:EXAMPLES],
                  f"as of the last reconciliation run; {later} orders changed after it" if later else
                  "as of the last reconciliation run")


def _breaks(rule, read, now):
    left, right = read.get(rule.left_system), read.get(rule.right_system)
    if left is None:
        return False
    if left[1] + timedelta(minutes=rule.window_minutes) > now:
        return False
    if rule.condition == "amounts":
        return (right is not None and left[2] is not None and right[2] is not None
                and abs(Decimal(left[2]) - Decimal(right[2])) > rule.amount_tolerance)
    if left[0] not in rule.left_states:
        return False
    if right is None:
        return rule.right_absent_counts
    inside = right[0] in rule.right_states
    return inside if rule.right_match == "any" else not inside


def crm_in_order(*, connection_id, contacts, deals, edited_after):
    """Outbound changes lost (the newest message of a customer's field, or of an order's deal, not
    delivered) or applied out of order (the sandbox holding other than the newest delivered value).
    Contacts a person edited by hand in the CRM after that delivery are left out of the comparison."""
    from integrations.crm.deals import order_key, push_stages
    from integrations.crm.models import CrmOwnerLink, CrmStageMapping, OutboundMessage
    from lifecycle.models import Customer, Order

    newest = {}
    for pk, customer_id, what, order_id, value, state, delivered_at in OutboundMessage.objects.filter(
            connection_id=connection_id).order_by("pk").values_list(
            "pk", "customer_id", "field", "order_id", "value", "state", "delivered_at"):
        newest[(customer_id, what, order_id)] = (pk, value, state, delivered_at)
    owners = dict(CrmOwnerLink.objects.filter(connection_id=connection_id).values_list("agent_id", "owner_id"))
    stages = dict(CrmStageMapping.objects.filter(connection_id=connection_id).values_list("stage", "hubspot_stage"))
    deal_stages = push_stages(connection_id)
    emails = dict(Customer.objects.filter(pk__in={c for c, _, _ in newest}).values_list("pk", "email"))
    keys = {pk: order_key(o) for pk, o in Order.objects.in_bulk({o for _, _, o in newest if o}).items()}
    found, by_hand = [], 0
    for (customer_id, what, order_id), (pk, value, state, delivered_at) in newest.items():
        if state not in ("delivered", "skipped"):
            found.append(f"message {pk} ({what} of customer {customer_id}) {state}: lost")
            continue
        if state == "skipped":
            continue
        if edited_after.get(customer_id, 0) >= delivered_at.timestamp() - 1:
            by_hand += 1
            continue
        if what == "owner" and value.get("agent") and owners.get(value["agent"]):
            held = contacts.get((emails.get(customer_id) or "").lower(), {}).get("hubspot_owner_id")
            expected = owners[value["agent"]]
        elif what == "stage" and stages.get(value.get("stage")):
            held = contacts.get((emails.get(customer_id) or "").lower(), {}).get("lifecyclestage")
            expected = stages[value["stage"]]
        elif what == "deal" and deal_stages.get(value.get("state")):
            held = deals.get(keys.get(order_id), {}).get("dealstage")
            expected = deal_stages[value["state"]]
        else:
            continue
        if held != expected:
            found.append(f"{what} of customer {customer_id}: the CRM holds {held!r}, the newest sent was {expected!r}")
    return Result("outbound CRM changes lost or applied out of order", len(found), found[:EXAMPLES],
                  f"{len(newest)} fields and deals compared; {by_hand} left out (edited by hand after the last push)")
