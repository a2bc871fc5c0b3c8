"""The assignment loop: every customer waiting for an agent reaches one.

A customer waits when its team owns it and nobody in the team had room (its owner row has no
agent). `unassigned_customer`, in the team's queue, is the clock that runs meanwhile. There are
three ways out, and all write a Handoff through ownership.handoffs_write, which stops that clock
in the same transaction and names who acted:

- an agent of the team claims the customer (customer_claim, or queues.claim_next when it is the
  item due first in the agent's teams);
- a manager chooses the agent (customer_assign; assigning or resolving the exception does this);
- room appears (an agent's load falls below capacity, an agent comes on shift, a manager raises a
  capacity): waiting_route hands the team's oldest waiting customers to the agents with room, by
  the team's mode, set-based. It runs after each such change (room.room_made) and every minute
  from the beat, which catches whatever a lost wake-up left.

Locks follow routing's order: customer rows first (claim next and waiting_route skip the ones
another transaction holds), then team rows, then owner rows, then exceptions.
"""

from django.db import transaction

from lifecycle import rules
from lifecycle.db import owners as owner_rows
from lifecycle.models import Agent, Customer, ExceptionKind, Team
from lifecycle.selectors import routing as selectors
from lifecycle.selectors.queues import waiting_customers
from lifecycle.services.errors import InvalidOwner, PermissionDenied, ServiceError
from lifecycle.services.ownership import Transfer, handoffs_write, ownership_transfer
from lifecycle.services.routing import TeamDesks

ASSIGN = "lifecycle.assign_exceptioncase"
UNASSIGNED = ExceptionKind.UNASSIGNED_CUSTOMER
CLAIM = "claim"


def agent_for(actor):
    agent = Agent.objects.filter(user=actor.user).prefetch_related("teams").first() if actor.is_user else None
    if agent is None:
        raise PermissionDenied("Only agents work queues: your user has no agent profile.")
    return agent


# --- an agent claims ---------------------------------------------------------------------------------
def customer_claim(*, customer, actor):
    """The agent takes a customer of their team that waits for an agent. Returns the Handoff."""
    agent = agent_for(actor)
    with transaction.atomic():
        locked = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
        return claim_locked(locked, agent, actor)


def claim_locked(customer, agent, actor):
    """customer_claim for a customer row the caller has locked."""
    owners, reserved = owner_rows.lock_owners([customer.pk])
    current = owners.get(customer.pk)
    if current is None:
        raise ServiceError(f"{customer} has no owning team yet; a manager routes it first.")
    if current.agent_id is not None:
        raise ServiceError(f"{current.agent_name} already owns {customer}; nothing to claim.")
    team = Team.objects.get(pk=current.team_id)
    if not agent.teams.filter(pk=team.pk).exists():
        manager = f" ({team.manager.get_full_name() or team.manager.get_username()})" if team.manager_id else ""
        raise PermissionDenied(f"{customer} waits for an agent of {team}; only its agents claim it. "
                               f"Ask the team's manager{manager} to assign it.")
    [handoff] = handoffs_write([Transfer(
        customer=customer, current=current, team=team, agent=agent, actor=actor, rule=CLAIM,
        reason=f"Claimed from the customers waiting in {team}", start_clock=False, handoff_id=reserved.get(customer.pk),
    )])
    return handoff


# --- a manager chooses ---------------------------------------------------------------------------------
def customer_assign(*, customer, agent, actor, reason=""):
    """A manager gives a waiting customer (or any customer, inside its team) to a chosen agent of
    the team that owns it: past capacity or off shift if they decide so. Returns the Handoff."""
    if not actor.has_perm(ASSIGN):
        raise PermissionDenied("Only managers assign customers to agents.")
    if agent is None:
        raise InvalidOwner("Choose the agent who takes the customer.")
    with transaction.atomic():
        owners, _ = owner_rows.lock_owners([customer.pk])
        current = owners.get(customer.pk)
        if current is None:
            raise ServiceError(f"{customer} has no owning team yet.")
        team = Team.objects.get(pk=current.team_id)
        if not agent.teams.filter(pk=team.pk).exists():
            raise InvalidOwner(f"{agent} is not in {team}, the team that owns {customer}.")
        return ownership_transfer(customer=customer, team=team, agent=agent, actor=actor, rule="manual",
                                  reason=(reason or "").strip() or f"Assigned to {agent} by a manager",
                                  expected=(current.team_id, current.agent_id))


# --- room appears ----------------------------------------------------------------------------------
def waiting_route(*, team_ids=None, actor):
    """Hand each team's waiting customers, oldest first, to its agents with room, by the team's
    mode; returns the Handoffs. Only as many as the team has room for are read and locked; one
    transaction per team. Customers another transaction holds are left for the next run."""
    if team_ids is None:
        team_ids = teams_with_waiting()
    handoffs = []
    for team_id in sorted(set(team_ids)):
        handoffs.extend(_route_team(team_id, actor))
    return handoffs


def teams_with_waiting():
    return sorted(set(Customer.objects.filter(ownership__agent__isnull=True, ownership__isnull=False)
                      .values_list("ownership__team_id", flat=True).distinct()))


def _room(team_id):
    """How many more items the team's agents on shift can take, read without locks."""
    return sum(max(0, load.capacity - load.open_items) for load in selectors.agent_loads(team_id)
               if load.is_active and load.is_available)


def _route_team(team_id, actor):
    room = _room(team_id)
    if room == 0:
        return []
    with transaction.atomic():
        # Only what routing reads: a whole backlog of customers loads in a fraction of the time.
        customers = list(waiting_customers([team_id]).only("id", "stage")
                         .select_for_update(skip_locked=True, of=("self",))[:room])
        if not customers:
            return []
        desks = TeamDesks([team_id])
        sticky = desks.teams[team_id].routing_mode == rules.STICKY
        decisions = desks.choose_many(team_id, [_last_agent(c.pk, team_id) if sticky else None for c in customers])
        chosen = [(c, d) for c, d in zip(customers, decisions, strict=True) if d.agent_id is not None]
        if not chosen:
            return []
        owners, reserved = owner_rows.lock_owners([c.pk for c, _ in chosen])
        agents = Agent.objects.select_related("user").in_bulk({d.agent_id for _, d in chosen})
        team = desks.teams[team_id]
        transfers = []
        for customer, decision in chosen:
            current = owners.get(customer.pk)
            if current is None or current.team_id != team_id or current.agent_id is not None:
                continue  # taken meanwhile (a manager's reassignment locks only the owner row)
            routed = rules.RoutingDecision(rules.TeamChoice(team_id, source=rules.CURRENT_TEAM), decision,
                                           stage=customer.stage)
            transfers.append(Transfer(
                customer=customer, current=current, team=team, agent=agents[decision.agent_id], actor=actor,
                rule=routed.label, detail=routed.as_detail(), start_clock=False,
                reason=f"{team} had room again: oldest waiting first", handoff_id=reserved.get(customer.pk),
            ))
        desks.save()
        return handoffs_write(transfers)


def _last_agent(customer_id, team_id):
    # Sticky's candidate, read only when the team is sticky (TeamDesks calls it with the members).
    return lambda member_ids: selectors.last_agent_in_team(customer_id, team_id)
