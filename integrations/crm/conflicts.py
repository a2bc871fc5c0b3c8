"""When the CRM names another owner or lifecycle stage than the console: the connection's policy.

For each contact a pull or a webhook brings, per property (owner, stage), what the CRM says is:
- none: it names nobody (no owner, no stage): no claim;
- agrees: what the console holds (its agent's HubSpot owner, its stage's mapped value);
- echo: what the console last pushed (CrmContact.pushed): our own write coming back, maybe behind a
  newer one still in the outbox, never a claim;
- differs: a second claim. Only a *new* one acts (the CRM's value changed since it was last seen):
  the same claim read again (the contact changed for another reason) neither reopens a conflict a
  manager dismissed nor hands the customer back after a manager moved it.
A new claim, by policy: console_is_truth opens `ownership_conflict` (one per customer and property,
evidence: both sides, named, with when each was set) and the console keeps its owner;
accept_crm_handoffs hands the customer over through the ownership service, actor the CRM (one owner
row, updated under its lock: never two owners), or moves the stage forward through its transition.
What the console cannot take (an owner no agent is linked to, a backward stage move, which needs a
manager) is a conflict under either policy.

A conflict closes itself when the CRM stops claiming (conflicts_settle, after every pull, and every
contact that agrees again). A person who resolves it pushes the console's owner or stage back to the
CRM through the outbox (conflict_closed, in the closing transaction); dismissing it pushes nothing.
"""

import re
from dataclasses import dataclass, field

from django_fsm import TransitionNotAllowed

from integrations.crm import contact_changes, sides
from integrations.crm.models import CrmConnection, CrmContactState
from integrations.crm.outbox import outbox_write
from lifecycle.db import rows
from lifecycle.models import (
    OPEN_STATUSES,
    Customer,
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Ownership,
    Stage,
    TimelineEvent,
)
from lifecycle.services.customer_changes import CustomerChange, Field
from lifecycle.services.exceptions import (
    Raise,
    exceptions_closed_register,
    exceptions_raise,
    exceptions_resolve,
)
from lifecycle.services.stages import stage_step, stages_follow

KIND = ExceptionKind.OWNERSHIP_CONFLICT
OWNER, STAGE = "owner", "stage"
NONE, AGREES, ECHO, DIFFERS = "none", "agrees", "echo", "differs"
ACCEPT = CrmConnection.Policy.ACCEPT_CRM_HANDOFFS
SUBJECT = re.compile(r"^crm:(\d+)/(owner|stage)/customer:(\d+)$")


def subject(connection_id, what, customer_id):
    return f"crm:{connection_id}/{what}/customer:{customer_id}"


def claim(crm_value, pushed, console_value):
    """What the CRM's value says against the console's (pure; the module docstring)."""
    if not crm_value:
        return NONE
    if crm_value == console_value:
        return AGREES
    if crm_value == pushed:
        return ECHO
    return DIFFERS


@dataclass
class Item:
    """One contact's word: its customer, what the CRM said before (its state row, unsaved the first
    time), the new fact (inbound.ContactFact) and what the console last pushed to it."""

    customer_id: int
    state: CrmContactState
    fact: object
    pushed: dict = field(default_factory=dict)


@dataclass
class Claims:
    """What a batch decided; counts for the pull's report."""

    moves: list = field(default_factory=list)  # (customer id, transition)
    handoffs: list = field(default_factory=list)  # (customer id, agent id)
    conflicts: list = field(default_factory=list)  # (what, customer id, crm value, when set, why)
    cleared: dict = field(default_factory=dict)  # subject: reason
    echoes: int = 0
    stale: int = 0


def claims_apply(*, connection, items, actor):
    """Decide every item's owner and stage claims, write what the policy says, and update each
    item's state in memory (the caller saves them). Returns Claims."""
    ctx = sides.Sides.load(connection, [i.customer_id for i in items])
    claims = Claims()
    for item in items:
        _stage(connection, ctx, item, claims)
        _owner(connection, ctx, item, claims)
    _moves_write(claims.moves, actor, connection)
    _handoffs_write(ctx, claims.handoffs, actor, connection)
    _conflicts_raise(connection, claims.conflicts, actor)
    _resolve(claims.cleared, actor)
    return claims


# Where the state keeps each field: (value, when the CRM's value became this one, its newest stamp).
_STATE_FIELDS = {STAGE: ("stage", "stage_set_at", "stage_seen_at"),
                 OWNER: ("owner_id", "owner_set_at", "owner_seen_at")}


def _heard(connection, what, item, said, value, at, claims):
    """Keep what the CRM said of one field on its state, and weigh it: True when it differs from the
    console and is news (a claim to act on); False when older than what the state holds (a webhook
    arriving late), the same claim again, or no claim (then any open conflict on it clears)."""
    state = item.state
    value_name, set_name, seen_name = _STATE_FIELDS[what]
    seen_at = getattr(state, seen_name)
    if seen_at is not None and at < seen_at:
        claims.stale += 1
        return False
    new = value != getattr(state, value_name) or getattr(state, set_name) is None
    if new:
        setattr(state, value_name, value)
        setattr(state, set_name, at)
    setattr(state, seen_name, at)
    verdict = said()
    claims.echoes += verdict == ECHO
    if verdict != DIFFERS:
        claims.cleared[subject(connection.pk, what, item.customer_id)] = _cleared_why(connection, what, verdict)
        return False
    return new


def _stage(connection, ctx, item, claims):
    if item.fact.stage is None:
        return
    value, at = item.fact.stage
    stage = ctx.stages[item.customer_id]
    console = ctx.stage_map.get(stage)
    # A stage the console does not push (mapped to nothing) is the CRM's own business: no claim.
    said = lambda: claim(value, item.pushed.get(contact_changes.STAGE_PROPERTY), console) if console else NONE  # noqa: E731
    if not _heard(connection, STAGE, item, said, value, at, claims):
        return
    transition = ctx.forward_to(stage, value) if connection.conflict_policy == ACCEPT else None
    if transition:
        claims.moves.append((item.customer_id, transition))
    else:
        why = "" if connection.conflict_policy != ACCEPT else (
            f"No forward move leads from {Stage(stage).label} to a stage mapped to “{value}”; moving a customer "
            "back needs a manager.")
        claims.conflicts.append((STAGE, item.customer_id, value, item.state.stage_set_at, why))


def _owner(connection, ctx, item, claims):
    if item.fact.owner is None:
        return
    value, at = item.fact.owner
    said = lambda: claim(value, item.pushed.get(contact_changes.OWNER_PROPERTY),  # noqa: E731
                         ctx.console_owner_id(item.customer_id))
    if not _heard(connection, OWNER, item, said, value, at, claims):
        return
    agent, why = ctx.agent_for_owner(value) if connection.conflict_policy == ACCEPT else (None, "")
    if agent is not None:
        claims.handoffs.append((item.customer_id, agent.pk))
    else:
        claims.conflicts.append((OWNER, item.customer_id, value, item.state.owner_set_at, why))


def _cleared_why(connection, what, said):
    thing = "owner" if what == OWNER else "lifecycle stage"
    return {NONE: f"{connection.name} no longer names a {thing}.",
            AGREES: f"{connection.name} and the console agree on the {thing} again.",
            ECHO: f"{connection.name} went back to the {thing} the console sent it."}[said]


def _moves_write(moves, actor, connection):
    """Forward stage moves the CRM made, accepted: each customer's transition and the handoff to the
    new stage's team, as the stage service writes a rule's moves (one UPDATE, one routing)."""
    if not moves:
        return
    wanted = dict(moves)
    reason = f"{connection.name} moved the lifecycle stage (the connection accepts the CRM's changes)"
    events, changes = [], []
    for customer in Customer.objects.select_for_update(no_key=True).filter(pk__in=wanted).order_by("pk"):
        before = customer.stage
        try:
            stage_step(customer, wanted[customer.pk], actor, reason, events)
        except TransitionNotAllowed:
            continue  # the stage changed since it was read: the CRM's next word decides
        changes.append((customer, before, actor, reason))
    rows.insert_many(TimelineEvent, events)
    stages_follow(changes)


def _handoffs_write(ctx, handoffs, actor, connection):
    if handoffs:
        sides.handoffs_to_crm_owners(ctx, handoffs, actor, connection)


def _conflicts_raise(connection, conflicts, actor):
    """Open (or count again) the batch's conflicts through the exception service's batch path, both
    sides named in their evidence: the console's owners, the CRM's owners and the customers' stages
    read once for the whole batch."""
    if not conflicts:
        return
    owned = [c for c in conflicts if c[0] == OWNER]
    console_owners = sides.console_owners([c[1] for c in owned]) if owned else {}
    crm_owners = sides.crm_owners(connection, [c[2] for c in owned]) if owned else {}
    staged = {c[1] for c in conflicts if c[0] == STAGE}
    stages = {row["pk"]: row for row in Customer.objects.filter(pk__in=staged).values("pk", "stage",
                                                                                   "stage_changed_at")}
    labels = connection.stage_labels()
    raises = []
    for what, customer_id, value, set_at, why in conflicts:
        set_at = set_at.isoformat() if set_at else None
        if what == OWNER:
            console, crm = console_owners[customer_id], {**crm_owners[value], "set_at": set_at}
            summary = f"{connection.name} names {crm['name']} the owner; the console's owner is {console['name']}"
        else:
            stage, since = stages[customer_id]["stage"], stages[customer_id]["stage_changed_at"]
            console = {"stage": stage, "name": Stage(stage).label, "since": since.isoformat() if since else None}
            crm = {"stage": value, "name": labels.get(value, value), "set_at": set_at}
            summary = f"{connection.name} says the stage is {crm['name']}; the console's is {console['name']}"
        raises.append(Raise(subject_key=subject(connection.pk, what, customer_id), summary=summary,
                            customer=customer_id, evidence={
                                "what": what, "connection": connection.name, "connection_id": connection.pk,
                                "policy": connection.conflict_policy, "console": console, "crm": crm, "why": why}))
    exceptions_raise(kind=KIND, raises=raises, actor=actor)


def _resolve(cleared, actor):
    """Close the open conflicts among `cleared` (one read of which are open, one resolve)."""
    if not cleared:
        return
    open_ = set(ExceptionCase.objects.filter(kind=KIND, status__in=OPEN_STATUSES, subject_key__in=list(cleared))
                .values_list("subject_key", flat=True))
    exceptions_resolve(kind=KIND, reasons={s: why for s, why in cleared.items() if s in open_}, actor=actor)


def conflicts_settle(*, connection, actor):
    """Resolve the connection's open conflicts whose condition cleared since (a manager gave the
    customer the CRM's owner; the CRM's last word is the console's): one read of the open ones."""
    cases = {}
    for key in ExceptionCase.objects.filter(kind=KIND, status__in=OPEN_STATUSES,
                                            subject_key__startswith=f"crm:{connection.pk}/").values_list(
            "subject_key", flat=True):
        match = SUBJECT.match(key)
        if match:
            cases[key] = (match.group(2), int(match.group(3)))
    if not cases:
        return 0
    ctx = sides.Sides.load(connection, {c for _, c in cases.values()})
    states = {s.customer_id: s for s in CrmContactState.objects.filter(
        connection=connection, customer_id__in={c for _, c in cases.values()})}
    cleared = {}
    for key, (what, customer_id) in cases.items():
        state = states.get(customer_id)
        crm_value = (state.owner_id if what == OWNER else state.stage) if state else ""
        if what == OWNER:
            said = claim(crm_value, None, ctx.console_owner_id(customer_id))
        else:
            console = ctx.stage_map.get(ctx.stages.get(customer_id))
            said = claim(crm_value, None, console) if console else NONE
        if said != DIFFERS:
            cleared[key] = _cleared_why(connection, what, said)
    _resolve(cleared, actor)
    return len(cleared)


def conflict_closed(exception, actor):
    """A person resolved a CRM conflict: push the console's owner or stage back to the CRM, in the
    closing transaction (the outbox's newest-wins makes it the value the CRM ends with)."""
    match = SUBJECT.match(exception.subject_key or "")
    if exception.kind != KIND or exception.status != ExceptionStatus.RESOLVED or not match:
        return
    connection_id, what, customer_id = int(match.group(1)), match.group(2), int(match.group(3))
    key = f"pushback:{exception.pk}:{exception.reopened_count}:{what}"
    if what == OWNER:
        owner = Ownership.objects.filter(customer_id=customer_id).values_list("team_id", "agent_id").first()
        if owner is None:
            return
        change = CustomerChange(customer_id, Field.OWNER, {"team": owner[0], "agent": owner[1]}, key)
    else:
        customer = Customer.objects.get(pk=customer_id)
        connection = CrmConnection.objects.get(pk=connection_id)
        change = CustomerChange(customer_id, Field.STAGE,
                                {"stage": customer.stage, "backward": sides.crm_stage_is_later(connection, customer)},
                                key)
    outbox_write([change])


exceptions_closed_register(conflict_closed)
