"""Ownership changes. Every change is one Handoff row and one timeline event, in one transaction.

One path for one and for many: handoffs_write writes a batch of transfers (routing's decisions, a
manager's reassignment, a claim); ownership_transfer is a batch of one with the checks a person's
change needs.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycle.db import owners as owner_rows
from lifecycle.db import rows
from lifecycle.db.owners import OwnerRow
from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionKind, Handoff, Ownership, Team, TimelineEvent
from lifecycle.services import timeline
from lifecycle.services.customer_changes import customers_changed, owner_changes
from lifecycle.services.errors import InvalidOwner, OwnershipChanged, PermissionDenied
from lifecycle.services.exceptions import Raise, exceptions_raise, exceptions_resolve
from lifecycle.services.room import room_made

UNASSIGNED = ExceptionKind.UNASSIGNED_CUSTOMER
# Sentinel: "the caller did not say what owner it expects", as opposed to expecting no owner.
UNCHECKED = object()


def unassigned_subject(customer_id):
    return f"customer:{customer_id}"


@dataclass(frozen=True)
class Transfer:
    """One ownership change: the customer (its owner row locked by the caller, `current`) to
    (team, agent), with who and why."""

    customer: object
    current: OwnerRow | None
    team: Team
    agent: object  # an Agent, or None: the team owns the customer, nobody in it yet
    reason: str
    actor: object
    rule: str = ""
    detail: dict = field(default_factory=dict)
    # Routing starts the "no agent" clock (unassigned_customer) for a customer nobody could take.
    start_clock: bool = True
    handoff_id: int | None = None  # reserved by lock_owners where ids are allocated ahead

    @property
    def changes(self):
        target = (self.team.pk, self.agent.pk if self.agent else None)
        return self.current is None or (self.current.team_id, self.current.agent_id) != target


def handoffs_write(transfers):
    """The Handoffs, owner rows and timeline events of the transfers that change something, written
    together (one statement for a single handoff where its id was reserved, one per kind of row for
    many); returns the Handoffs. A customer nobody could take raises (or refreshes)
    `unassigned_customer`; one that gets its first agent ends that clock, in the same transaction,
    whichever path gave it the agent (routing, a manager, a claim)."""
    now = timezone.now()
    written, handoffs, added, moved, events = [], [], [], [], []
    for t in transfers:
        if not t.changes:
            written.append((t, None))
            continue
        handoff = Handoff(
            id=t.handoff_id, customer=t.customer, from_team_id=t.current.team_id if t.current else None,
            from_agent_id=t.current.agent_id if t.current else None, to_team=t.team, to_agent=t.agent,
            reason=t.reason, rule=t.rule, detail=t.detail, created_at=now, **t.actor.as_fields(),
        )
        owner = Ownership(id=t.current.id if t.current else None, customer=t.customer, team=t.team, agent=t.agent,
                          since=now, last_handoff=handoff)
        (moved if t.current else added).append(owner)
        handoffs.append(handoff)
        written.append((t, handoff))
    rows.insert_many(Handoff, [h for h in handoffs if h.pk is None])  # where ids are not reserved ahead
    for t, handoff in written:
        if handoff is not None:
            events.append(timeline.handoff_event(handoff=handoff, actor=t.actor,
                                                 from_owner=t.current.label if t.current else "nobody"))
    rows.write([("insert", Handoff, [h for h in handoffs if h._state.adding]),
                ("update", Ownership, moved, ["team", "agent", "since", "last_handoff"]),
                ("insert", Ownership, added), ("insert", TimelineEvent, events)])
    _unassigned_clocks(written)
    customers_changed(owner_changes, handoffs)  # the CRM's outbox, in this transaction
    # Agents who handed a customer on have room for one more of their teams' waiting customers.
    room_made(agent_ids={h.from_agent_id for h in handoffs if h.from_agent_id and h.from_agent_id != h.to_agent_id})
    return handoffs


def _unassigned_clocks(written):
    got_agent, moved, clocks = [], {}, {}
    for t, handoff in written:
        if t.agent is None:
            if handoff is not None and t.current is not None and t.current.team_id != t.team.pk:
                moved.setdefault(t.team.pk, []).append(unassigned_subject(t.customer.pk))
            if t.start_clock:
                clocks.setdefault(t.actor, []).append(Raise(
                    subject_key=unassigned_subject(t.customer.pk), customer=t.customer,
                    summary=f"No agent of {t.team} can take this customer",
                    evidence={"team": t.team.slug, "team_id": t.team.pk, "rule": t.rule,
                              "skipped": t.detail.get("skipped", {})},
                ))
        elif handoff is not None and not (t.current and t.current.agent_id):
            got_agent.append((unassigned_subject(t.customer.pk), t))
    for actor, raises in clocks.items():  # a batch per actor: a churning import's thousands in a few statements
        exceptions_raise(kind=UNASSIGNED, raises=raises, actor=actor)
    for team_id, subjects in moved.items():
        # Still waiting, in another team now: its clock (unless escalated) waits in that team's queue.
        ExceptionCase.objects.filter(kind=UNASSIGNED, subject_key__in=subjects, status__in=OPEN_STATUSES,
                                     breached_at__isnull=True).update(queue_id=team_id)
    by_actor = {}  # the timeline names whoever gave each customer its agent
    for subject, t in got_agent:
        by_actor.setdefault(t.actor, {})[subject] = f"{t.agent} owns the customer now ({t.reason})"
    for actor, reasons in by_actor.items():
        exceptions_resolve(kind=UNASSIGNED, reasons=reasons, actor=actor)


def ownership_transfer(*, customer, team, agent=None, reason, actor, rule="", detail=None, expected=UNCHECKED):
    """Make (team, agent) the customer's owner; return the Handoff, or None when nothing changes.

    `expected` is the (team_id, agent_id) the caller saw, or None for "no owner yet": when the
    owner has changed since, OwnershipChanged is raised and nothing is written, so two people
    reassigning the same customer at once never silently overwrite each other.
    """
    if agent is not None:
        # all() reads the caller's prefetch_related("teams") when there is one (bulk jobs).
        if team.pk not in {t.pk for t in agent.teams.all()}:
            raise InvalidOwner(f"{agent} is not a member of {team}")
        if not agent.user.is_active:
            raise InvalidOwner(f"{agent} is deactivated")
    with transaction.atomic():
        owners, reserved = owner_rows.lock_owners([customer.pk])
        current = owners.get(customer.pk)
        seen = (current.team_id, current.agent_id) if current else None
        if expected is not UNCHECKED and seen != expected:
            raise OwnershipChanged(f"The owner of {customer} changed while you were looking; reload and try again.")
        transfer = Transfer(customer=customer, current=current, team=team, agent=agent, reason=reason, actor=actor,
                            rule=rule, detail=detail or {}, start_clock=False, handoff_id=reserved.get(customer.pk))
        if not transfer.changes:
            return None
        try:
            [handoff] = handoffs_write([transfer])
        except IntegrityError:
            # A second owner row: only reachable where row locks are not real (no SELECT FOR UPDATE).
            raise OwnershipChanged(f"{customer} was given an owner at the same moment; reload and try again.")
    return handoff


def owner_reassign(*, customer, team, agent=None, reason, actor, expected=UNCHECKED):
    """A person reassigns a customer: needs the permission and a reason."""
    if not actor.has_perm("lifecycle.reassign_owner"):
        raise PermissionDenied("Only managers can reassign a customer's owner.")
    if not (reason or "").strip():
        raise InvalidOwner("A reassignment needs a reason.")
    return ownership_transfer(
        customer=customer, team=team, agent=agent, reason=reason.strip(), actor=actor,
        rule="manual", expected=expected,
    )
