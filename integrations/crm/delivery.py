"""Delivering the CRM's outbox: a connection's pending messages, newest per customer and field,
as contact upserts in batches of at most 100 (HubSpot's batch limit).

One deliverer per connection at a time (leases.py): a run takes the connection's lease with one conditional
UPDATE (the same on PostgreSQL and SQLite) and holds no transaction or row lock while it waits on
HubSpot: on the embedded SQLite a transaction open across HTTP calls would stop every other writer.

A round reads the due messages in the order they were written. One that has a newer message of the
same customer and field is superseded, never sent (newest wins, whatever retries and replays did).
The rest become one ContactChange per customer (contact_changes.py). Each batch's outcome commits on
its own, so a crash loses at most a batch's bookkeeping, and resending it is harmless (an upsert).

- delivered: the messages are done and the customer's CrmContact records the contact id and values;
- a contact HubSpot refused (an item error): its messages are dead letters at once (resending the
  same contact cannot help), with HubSpot's sentence;
- retryable errors (5xx, timeouts, unreachable): the batch's messages count an attempt and wait
  BACKOFF doubling; after MAX_ATTEMPTS they are dead letters. A 429 waits its window and counts no
  attempt: it is pacing, not the messages' failure. The run stops: the next batches would fare alike;
- a refused token or scope: `sync_failure` at once with the adapter's sentence, and the connection
  reads as refused; every message waits, uncounted, until a check passes (or ACCESS_WAIT passes);
- an agent without a HubSpot owner: the owner change waits (OWNER_WAIT) and one `sync_failure`
  names every such agent; the rest of the customer's change goes.
"""

import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from integrations.crm import contact_changes, failures
from integrations.crm.base import CrmError
from integrations.crm.connections import adapter_for, connection_checked, owners_link
from integrations.crm.leases import lease_release, lease_renew, lease_take
from integrations.crm.models import CrmConnection, CrmContact, CrmOwnerLink, OutboundMessage

M = OutboundMessage.State
BATCH = 100  # HubSpot's batch upsert takes at most 100 inputs
READ = 1_000  # messages read per round: ten batches when each customer has one change
# Twelve attempts with the backoff below span about six hours: HubSpot's longest incidents pass in
# that; a change still refused after them needs a person (a dead letter and its sync_failure).
MAX_ATTEMPTS = 12
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
RATE_LIMIT_WAIT = timedelta(seconds=10)  # a 429 without Retry-After: HubSpot's rolling window
ACCESS_WAIT = timedelta(minutes=15)  # a refused token is tried again after this (at once when checked)
OWNER_WAIT = timedelta(minutes=15)  # an owner change whose agent has no HubSpot owner waits this long
RUN_SECONDS = 60  # a run gives its worker back after this; the task queues the next one when more wait


@dataclass
class Delivery:
    """What a run did, counted in messages."""

    delivered: int = 0
    superseded: int = 0
    skipped: int = 0
    parked: int = 0
    retrying: int = 0
    dead: int = 0
    batches: int = 0
    resent: int = 0  # stages HubSpot ignored, due again as backward moves
    busy: bool = False  # another run holds the connection
    more: bool = False  # messages are due still: run again
    stopped: str = ""  # the error that ended the run early
    missing_agents: set = field(default_factory=set)


def backoff(attempts):
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def outbox_deliver(*, connection, actor, adapter=None, clock=timezone.now):
    """Deliver the connection's due messages; returns a Delivery. A rerun after a crash re-sends at
    most the unrecorded batch, which HubSpot's upsert by email applies as once."""
    if _refused_lately(connection, clock()):
        return Delivery(stopped=connection.check_message)
    token = lease_take(connection, clock())
    if token is None:
        return Delivery(busy=True)
    report, started = Delivery(), time.monotonic()
    try:
        adapter = adapter or adapter_for(connection)

        def renew():
            return lease_renew(connection, token, clock())

        # A connection saved without a check (or whose check found HubSpot down) is checked first.
        report.stopped = connection_checked(connection=connection, actor=actor, adapter=adapter)
        while not report.stopped:
            read, again = _round(connection, adapter, actor, report, clock, renew)
            if not read or (read < READ and not again):
                break
            if time.monotonic() - started > RUN_SECONDS:
                report.more = True
                break
    finally:
        lease_release(connection, token)
    _failures_settle(connection, actor, report)
    if not report.more and not report.stopped:
        # Written while the lease was held, their wake-up found the run busy: run again for them.
        report.more = _pending(connection).filter(next_attempt_at__lte=clock()).exists()
    return report


def _refused_lately(connection, now):
    """HubSpot refused the token or a scope less than ACCESS_WAIT ago and no check passed since:
    sending would only be refused again (new changes wait with the rest)."""
    return connection.check_ok is False and connection.checked_at is not None and (
        connection.checked_at > now - ACCESS_WAIT)


# --- a round ------------------------------------------------------------------------------------
def _pending(connection):
    return OutboundMessage.objects.filter(connection=connection, state=M.PENDING)


def _round(connection, adapter, actor, report, clock, renew):
    """Read up to READ due messages and send them; (messages read, whether some were left for later)."""
    now = clock()
    newer = OutboundMessage.objects.filter(connection_id=OuterRef("connection_id"), customer_id=OuterRef("customer_id"),
                                           field=OuterRef("field"), pk__gt=OuterRef("pk"))
    due = list(_pending(connection).filter(next_attempt_at__lte=now).annotate(has_newer=Exists(newer))
               .select_related("customer").order_by("pk")[:READ])
    if not due:
        return 0, False
    old = [m.pk for m in due if m.has_newer]
    if old:
        _pending(connection).filter(pk__in=old).update(state=M.SUPERSEDED, last_error="A newer change replaced it.")
        report.superseded += len(old)
    live = [m for m in due if not m.has_newer]
    plan, resent = _plan(connection, adapter, live), report.resent
    _set_aside(plan, now, report)
    for start in range(0, len(plan.changes), BATCH):
        if not renew():  # the lease ran out and another run has the connection: it sends the rest
            report.stopped = "Another delivery run took the connection over."
            break
        if not _send(connection, adapter, plan.changes[start:start + BATCH], actor, report, clock):
            break
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


def _set_aside(plan, now, report):
    with transaction.atomic():
        for message, cause, why in plan.skipped:
            OutboundMessage.objects.filter(pk=message.pk, state=M.PENDING).update(
                state=M.SKIPPED, error_kind=cause, last_error=why)
        parked = [message.pk for message, _ in plan.parked]
        if parked:
            OutboundMessage.objects.filter(pk__in=parked, state=M.PENDING).update(
                next_attempt_at=now + OWNER_WAIT, error_kind=contact_changes.NO_OWNER,
                last_error=plan.parked[0][1])
    report.skipped += len(plan.skipped)
    report.parked += len(plan.parked)
    report.missing_agents |= plan.missing_agents


def _send(connection, adapter, chunk, actor, report, clock):
    """Send one batch and record its outcome; False when the run must stop."""
    report.batches += 1
    try:
        result = adapter.upsert_contacts([change for change, _ in chunk])
    except CrmError as error:
        return _failed(connection, chunk, error, actor, report, clock())
    now, sent = clock(), {change.email: (change, messages) for change, messages in chunk}
    ok = {r.email.strip().lower(): r for r in result.ok if r.email.strip().lower() in sent}
    refused = {e.key.strip().lower(): e.message for e in result.errors if e.key.strip().lower() in sent}
    with transaction.atomic():
        delivered, contacts = [], []
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
            delivered += [m.pk for m in messages]
            contacts.append((sent[email][1][0].customer_id, answer.id, properties))
        OutboundMessage.objects.filter(pk__in=delivered, state=M.PENDING).update(
            state=M.DELIVERED, delivered_at=now, attempts=F("attempts") + 1, last_error="", error_kind="")
        _contacts_record(connection, contacts, now)
        for email, why in refused.items():
            _dead(connection, [m.pk for m in sent[email][1]], failures.ITEM, why, actor, report)
        silent = [m for email, (_, ms) in sent.items() if email not in ok and email not in refused for m in ms]
        if silent:
            _retry(connection, silent, "server", "HubSpot answered nothing for this contact.", now, actor, report)
    report.delivered += len(delivered)
    return True


def _stage_again(connection, message, change, kept, now, actor, report):
    """A stage HubSpot ignored: due again at once marked backward (clear, then set), or, ignored
    though it was sent so, a dead letter: the account's stage order is not what the console read."""
    if change.stage_backward:
        why = f"HubSpot kept the stage {kept or 'it had'} even after clearing it; check the connection's stages."
        _dead(connection, [message.pk], failures.ITEM, why, actor, report)
        return
    _pending(connection).filter(pk=message.pk).update(
        value={**message.value, "backward": True}, next_attempt_at=now, attempts=F("attempts") + 1,
        last_error=f"HubSpot kept its later stage {kept or '(unknown)'}; sent again as a backward move.")
    report.resent += 1


def _failed(connection, chunk, error, actor, report, now):
    messages = [m for _, ms in chunk for m in ms]
    report.stopped = error.message
    with transaction.atomic():
        if error.kind in ("auth", "scope"):
            # The connection's problem, not the messages': every due one waits, uncounted, for a check.
            _pending(connection).filter(next_attempt_at__lte=now).update(
                next_attempt_at=now + ACCESS_WAIT, error_kind=error.kind, last_error=error.message)
            CrmConnection.objects.filter(pk=connection.pk).update(check_ok=False, checked_at=now,
                                                                  check_message=error.message)
            failures.access_failure_raise(connection=connection, error=error, actor=actor)
            return False
        if not error.retryable:
            _dead(connection, [m.pk for m in messages], error.kind, error.message, actor, report)
            report.stopped = ""
            return True  # this batch's contents were refused; the next batch may go
        _retry(connection, messages, error.kind, error.message, now, actor, report,
               wait=timedelta(seconds=error.retry_after) if error.retry_after else None)
    return False


def _retry(connection, messages, cause, why, now, actor, report, wait=None):
    """Count an attempt (none for a 429) and wait; messages past MAX_ATTEMPTS become dead letters."""
    if cause == "rate_limit":
        _pending(connection).filter(pk__in=[m.pk for m in messages]).update(
            next_attempt_at=now + (wait or RATE_LIMIT_WAIT), error_kind=cause, last_error=why)
        report.retrying += len(messages)
        return
    final = [m.pk for m in messages if m.attempts + 1 >= MAX_ATTEMPTS]
    by_attempts = {}
    for m in messages:
        if m.attempts + 1 < MAX_ATTEMPTS:
            by_attempts.setdefault(m.attempts + 1, []).append(m.pk)
    for attempts, ids in by_attempts.items():
        _pending(connection).filter(pk__in=ids).update(
            attempts=attempts, next_attempt_at=now + (wait or backoff(attempts)), error_kind=cause, last_error=why)
    report.retrying += sum(len(ids) for ids in by_attempts.values())
    if final:
        _dead(connection, final, cause, why, actor, report)


def _dead(connection, ids, cause, why, actor, report):
    count = _pending(connection).filter(pk__in=ids).update(state=M.DEAD, attempts=F("attempts") + 1,
                                                           error_kind=cause, last_error=why)
    report.dead += count
    if count:
        failures.dead_letters_raise(connection=connection, cause=cause, error=why, actor=actor)


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


def _failures_settle(connection, actor, report):
    """The run's sync failures: one for its agents without an owner; resolve what cleared."""
    if report.missing_agents:
        failures.owners_missing_raise(connection=connection, agent_ids=report.missing_agents, actor=actor)
    elif not _pending(connection).filter(error_kind=contact_changes.NO_OWNER).exists():
        failures.owners_missing_resolve(connection=connection, actor=actor)
    if report.delivered:
        failures.access_failure_resolve(connection=connection, actor=actor, reason="HubSpot accepts changes again.")
        failures.dead_letters_settle(connection=connection, actor=actor)
