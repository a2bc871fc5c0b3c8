"""Delivering the CRM's outbox: a connection's pending messages, newest per customer and field
(per order for deals), as contact and deal upserts in batches of at most 100 (HubSpot's batch limit).

One deliverer per connection at a time (leases.py): a run takes the connection's lease with one conditional
UPDATE (the same on PostgreSQL and SQLite) and holds no transaction or row lock while it waits on
HubSpot: on the embedded SQLite a transaction open across HTTP calls would stop every other writer.

A round reads the due messages in the order they were written. One that has a newer message of the
same customer and field (and order) is superseded, never sent (newest wins, whatever retries and
replays did). The rest become one ContactChange per customer (contact_changes.py), sent first, then
one DealChange per order (deal_delivery.py), so a new customer's deal finds its contact. Each batch's
outcome commits on its own, so a crash loses at most a batch's bookkeeping, and resending it is
harmless (an upsert).

- delivered: the messages are done and the customer's CrmContact records the contact id and values;
- a contact HubSpot refused (an item error): its messages are dead letters at once (resending the
  same contact cannot help), with HubSpot's sentence;
- errors of the whole batch, retries and a refused token: outcomes.py. The run stops at a retryable
  one: the next batches would fare alike;
- an agent without a HubSpot owner: the owner change waits (OWNER_WAIT) and one `sync_failure`
  names every such agent; the rest of the customer's change goes.
"""

import time

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from integrations.crm import contact_changes, daily_cap, deal_delivery, failures
from integrations.crm.base import CrmError
from integrations.crm.connections import adapter_for, connection_checked, owners_link
from integrations.crm.leases import lease_release, lease_renew, lease_take
from integrations.crm.models import CrmContact, CrmOwnerLink, OutboundMessage
from integrations.crm.outcomes import ACCESS_WAIT, Delivery, dead, delivered, failed, pending, retry, set_aside

M = OutboundMessage.State
F_ = OutboundMessage.Field
BATCH = 100  # HubSpot's batch upsert takes at most 100 inputs
READ = 1_000  # messages read per round: ten batches when each customer has one change
RUN_SECONDS = 60  # a run gives its worker back after this; the task queues the next one when more wait


def outbox_deliver(*, connection, actor, adapter=None, clock=timezone.now):
    """Deliver the connection's due messages; returns a Delivery. A rerun after a crash re-sends at
    most the unrecorded batch, which HubSpot's upsert by email applies as once."""
    if _refused_lately(connection, clock()):
        return Delivery(stopped=connection.check_message)
    token = lease_take(connection, clock())
    if token is None:
        return Delivery(busy=True)
    report, started = Delivery(), time.monotonic()
    adapter = adapter or adapter_for(connection)
    usage = daily_cap.Usage(connection, adapter, daily_cap.DELIVERY_SHARE)
    try:
        def ready():
            """"" when the next batch may go; else why the run stops there."""
            if not lease_renew(connection, token, clock()):  # another run took the connection: it sends the rest
                return "Another delivery run took the connection over."
            return usage.spend(clock())

        # A connection saved without a check (or whose check found HubSpot down) is checked first.
        report.stopped = connection_checked(connection=connection, actor=actor, adapter=adapter) or ready()
        while not report.stopped:
            read, again = _round(connection, adapter, actor, report, clock, ready)
            if not read or (read < READ and not again):
                break
            if time.monotonic() - started > RUN_SECONDS:
                report.more = True
                break
    finally:
        usage.spend(clock(), final=True)  # the last requests count too
        lease_release(connection, token)
    if usage.capped:
        daily_cap.changes_hold(connection=connection, why=report.stopped, actor=actor, now=clock())
    _failures_settle(connection, actor, report, capped=usage.capped)
    if not report.more and not report.stopped:
        # Written while the lease was held, their wake-up found the run busy: run again for them.
        report.more = pending(connection).filter(next_attempt_at__lte=clock()).exists()
    return report


def _refused_lately(connection, now):
    """HubSpot refused the token or a scope less than ACCESS_WAIT ago and no check passed since:
    sending would only be refused again (new changes wait with the rest)."""
    return connection.check_ok is False and connection.checked_at is not None and (
        connection.checked_at > now - ACCESS_WAIT)


# --- a round ------------------------------------------------------------------------------------
def _round(connection, adapter, actor, report, clock, ready):
    """Read up to READ due messages and send them; (messages read, whether some were left for later)."""
    now = clock()
    # Newer: of the same customer and field, and for a deal of the same order (others' order is empty).
    newer = OutboundMessage.objects.filter(
        Q(order__isnull=True) | Q(order_id=OuterRef("order_id")), connection_id=OuterRef("connection_id"),
        customer_id=OuterRef("customer_id"), field=OuterRef("field"), pk__gt=OuterRef("pk"))
    due = list(pending(connection).filter(next_attempt_at__lte=now).annotate(has_newer=Exists(newer))
               .select_related("customer").order_by("pk")[:READ])
    if not due:
        return 0, False
    old = [m.pk for m in due if m.has_newer]
    if old:
        pending(connection).filter(pk__in=old).update(state=M.SUPERSEDED, last_error="A newer change replaced it.")
        report.superseded += len(old)
    live = [m for m in due if not m.has_newer and m.field != F_.DEAL]
    deals = [m for m in due if not m.has_newer and m.field == F_.DEAL]
    plan, resent = _plan(connection, adapter, live), report.resent
    set_aside(plan.skipped, plan.parked, now, report, contact_changes.NO_OWNER)
    report.missing_agents |= plan.missing_agents
    for start in range(0, len(plan.changes), BATCH):
        report.stopped = ready()
        if report.stopped:
            break
        if not _send(connection, adapter, plan.changes[start:start + BATCH], actor, report, clock):
            break
    if deals and not report.stopped:
        deal_delivery.deals_deliver(connection, adapter, deals, actor, report, clock, ready)
    return len(due), bool(plan.later) or report.resent > resent


def _plan(connection, adapter, messages):
    customer_ids = {m.customer_id for m in messages}
    agent_ids = {m.value.get("agent") for m in messages if m.field == OutboundMessage.Field.OWNER} - {None}
    links = dict(CrmOwnerLink.objects.filter(connection=connection, agent_id__in=agent_ids)
                 .values_list("agent_id", "owner_id"))
    if agent_ids - set(links):
        # Agents never looked up (new since the last check): ask HubSpot's owners once for them.
        # Refused, they wait as agents without an owner; the upsert then says what is wrong.
        try:
            owners_link(connection=connection, adapter=adapter)
        except CrmError:
            pass
        links = dict(CrmOwnerLink.objects.filter(connection=connection, agent_id__in=agent_ids)
                     .values_list("agent_id", "owner_id"))
    pushed = dict(CrmContact.objects.filter(connection=connection, customer_id__in=customer_ids)
                  .values_list("customer_id", "pushed"))
    stage_map = dict(connection.stage_mappings.values_list("stage", "hubspot_stage"))
    return contact_changes.plan_build(messages, stage_map=stage_map, stage_order=connection.stage_order(),
                                      owner_ids=links, pushed=pushed)


def _send(connection, adapter, chunk, actor, report, clock):
    """Send one batch and record its outcome; False when the run must stop."""
    report.batches += 1
    try:
        result = adapter.upsert_contacts([change for change, _ in chunk])
    except CrmError as error:
        return failed(connection, [m for _, ms in chunk for m in ms], error, actor, report, clock())
    now, sent = clock(), {change.email: (change, messages) for change, messages in chunk}
    ok = {r.email.strip().lower(): r for r in result.ok if r.email.strip().lower() in sent}
    refused = {e.key.strip().lower(): e.message for e in result.errors if e.key.strip().lower() in sent}
    with transaction.atomic():
        done, contacts = [], []
        for email, answer in ok.items():
            change, messages = sent[email]
            properties = dict(change.properties)
            if answer.stage_ignored:  # HubSpot kept a later stage: that stage goes again, as a backward move
                stage = next(m for m in messages if m.field == OutboundMessage.Field.STAGE)
                messages = [m for m in messages if m is not stage]
                properties.pop(contact_changes.STAGE_PROPERTY, None)
                kept = (answer.properties or {}).get(contact_changes.STAGE_PROPERTY)
                if kept:
                    properties[contact_changes.STAGE_PROPERTY] = kept
                _stage_again(connection, stage, change, kept, now, actor, report)
            done += [m.pk for m in messages]
            contacts.append((sent[email][1][0].customer_id, answer.id, properties))
        delivered(connection, done, now)
        _contacts_record(connection, contacts, now)
        for email, why in refused.items():
            dead(connection, [m.pk for m in sent[email][1]], failures.ITEM, why, actor, report)
        silent = [m for email, (_, ms) in sent.items() if email not in ok and email not in refused for m in ms]
        if silent:
            retry(connection, silent, "server", "HubSpot answered nothing for this contact.", now, actor, report)
    report.delivered += len(done)
    return True


def _stage_again(connection, message, change, kept, now, actor, report):
    """A stage HubSpot ignored: due again at once marked backward (clear, then set), or, ignored
    though it was sent so, a dead letter: the account's stage order is not what the console read."""
    if change.stage_backward:
        why = f"HubSpot kept the stage {kept or 'it had'} even after clearing it; check the connection's stages."
        dead(connection, [message.pk], failures.ITEM, why, actor, report)
        return
    pending(connection).filter(pk=message.pk).update(
        value={**message.value, "backward": True}, next_attempt_at=now, attempts=F("attempts") + 1,
        last_error=f"HubSpot kept its later stage {kept or '(unknown)'}; sent again as a backward move.")
    report.resent += 1


def _contacts_record(connection, delivered, now):
    """Each delivered customer's contact id and the properties now in the CRM (merged over the old)."""
    if not delivered:
        return
    before = dict(CrmContact.objects.filter(connection=connection, customer_id__in=[c for c, _, _ in delivered])
                  .values_list("customer_id", "pushed"))
    CrmContact.objects.bulk_create(
        [CrmContact(connection=connection, customer_id=customer_id, contact_id=str(contact_id),
                    pushed={**before.get(customer_id, {}), **properties}, last_synced_at=now)
         for customer_id, contact_id, properties in delivered],
        update_conflicts=True, unique_fields=["connection", "customer"],
        update_fields=["contact_id", "pushed", "last_synced_at"])


def _failures_settle(connection, actor, report, capped):
    """The run's sync failures: one for its agents without an owner; resolve what cleared."""
    if report.missing_agents:
        failures.owners_missing_raise(connection=connection, agent_ids=report.missing_agents, actor=actor)
    elif not pending(connection).filter(error_kind=contact_changes.NO_OWNER).exists():
        failures.owners_missing_resolve(connection=connection, actor=actor)
    if report.delivered:
        failures.access_failure_resolve(connection=connection, actor=actor, reason="HubSpot accepts changes again.")
        failures.dead_letters_settle(connection=connection, actor=actor)
        if not capped:
            failures.daily_cap_resolve(connection=connection, actor=actor)
