"""Routing customers: the team by routing rules, the agent by the team's mode, written as handoffs.

rules.py decides, the selectors read the facts, lifecycle/db holds the SQL; this module locks,
glues them and writes. One path for one customer and for many: route_many takes a batch (the
customers a backfill page moved into new stages, an agent's customers handed on);
route_customer and reroute_customer are batches of one.

For each request: the team by the routing rules (or the customer's current team, when re-routing
inside it), the agent by the team's mode, a Handoff with the decision, the owner row and a
timeline event; `unassigned_customer` raised where nobody could take the customer. Each team is
locked and its agents' loads read once per batch, and the decisions that follow each other inside
a team count the previous ones (loads and the round-robin counter are carried in memory under the
team's lock, as one routing after another would read them from the database).

Locks are always taken customer first (the caller, in id order), then teams in id order, then the
owner rows being written, so two routings may wait for each other but never deadlock.
"""

from collections import Counter
from dataclasses import dataclass, replace

from django.db import transaction

from lifecycle import rules
from lifecycle.db import owners as owner_rows
from lifecycle.db import teams as team_rows
from lifecycle.models import Agent, Customer
from lifecycle.selectors import routing as selectors
from lifecycle.services.errors import NoOwningTeam
from lifecycle.services.ownership import Transfer, handoffs_write, unassigned_subject


@dataclass(frozen=True)
class RouteRequest:
    customer: Customer  # its row locked by the caller
    stage: str  # the stage it enters (routing rules match on it)
    reason: str
    actor: object
    # Re-routing inside the customer's current team (an agent leaving): only while `from_agent`
    # still owns it; `to_agent` is a manager's choice, followed when they are in the team.
    from_agent: Agent | None = None
    to_agent: Agent | None = None
    order: object = None  # the order that moved the customer: rules on the order value match its total

    @property
    def reroute(self):
        return self.from_agent is not None


class TeamDesks:
    """The teams a batch routes into, locked, with their agents' loads and round-robin counters
    carried in memory; save() writes the counters that moved."""

    def __init__(self, team_ids):
        self.teams = team_rows.lock_teams(sorted(team_ids))
        self.loads = {team_id: {load.agent_id: load for load in selectors.agent_loads(team_id)}
                      for team_id in self.teams}
        self.counters = {team_id: team.rr_counter for team_id, team in self.teams.items()}

    def choose(self, team_id, *, previous=None, manager_choice=None, moving_from=None):
        """The agent decision for one more customer (or exception) of the team. `previous` is the
        sticky candidate, an agent id or a function of the team's member ids giving one (so the
        history is only read when the team is sticky)."""
        return self.choose_many(team_id, [previous], manager_choice=manager_choice, moving_from=moving_from)[0]

    def choose_many(self, team_id, previous, *, manager_choice=None, moving_from=None):
        """One decision per item, each counting the ones before (rules.choose_agents); `previous`
        holds each item's sticky candidate, as `choose` takes it."""
        team, loads = self.teams[team_id], self.loads[team_id]
        if team.routing_mode != rules.STICKY:
            previous = [None] * len(previous)
        else:
            previous = [p(set(loads)) if callable(p) else p for p in previous]
        decisions = rules.choose_agents(team.routing_mode, list(loads.values()), previous,
                                        slot=self.counters[team_id], manager_choice=manager_choice)
        taken = [d.slot for d in decisions if d.slot is not None]
        if taken:
            self.counters[team_id] = taken[-1] + 1
        given = Counter(d.agent_id for d in decisions if d.agent_id is not None)
        if moving_from is not None:
            given[moving_from] -= len(decisions)
        self._count(given)
        return decisions

    def _count(self, given):
        """Items join (or leave, counted negative) agents' loads, in every team each belongs to."""
        for team_loads in self.loads.values():
            for agent_id, delta in given.items():
                if delta and agent_id in team_loads:
                    load = team_loads[agent_id]
                    team_loads[agent_id] = replace(load, open_items=load.open_items + delta)

    def save(self):
        for team_id, counter in self.counters.items():
            if counter != self.teams[team_id].rr_counter:
                team_rows.set_counter(team_id, counter)


def route_decisions(requests):
    """[(request, current OwnerRow or None, team, RoutingDecision)] for the requests that change
    something, in order; takes the teams' locks (call it in a transaction). The owners are read as
    they are: route_many locks them before it writes, and a customer's routings are serialised by
    its row, which the caller holds."""
    owners = owner_rows.owner_ids([r.customer.pk for r in requests])
    facts = selectors.routing_facts_many([(r.customer, r.stage, r.order) for r in requests if not r.reroute])
    pending = []
    for request in requests:
        current = owners.get(request.customer.pk)
        if request.reroute:
            if current is None or current.agent_id != request.from_agent.pk:
                continue  # no longer theirs: someone moved the customer meanwhile
            choice = rules.TeamChoice(current.team_id, source=rules.CURRENT_TEAM)
        else:
            choice = _team_choice(request, facts[request.customer.pk])
            if current and current.team_id == choice.team_id and current.agent_id is not None:
                continue  # a stage move inside one team keeps the agent the customer knows
        pending.append((request, choice, current))
    if not pending:
        return []
    desks = TeamDesks({choice.team_id for _, choice, _ in pending})
    decided = []
    for request, choice, current in pending:
        agent_decision = desks.choose(
            choice.team_id, previous=_previous(request, current, choice.team_id),
            manager_choice=request.to_agent.pk if request.to_agent is not None else None,
            moving_from=current.agent_id if current else None)
        decision = rules.RoutingDecision(choice, agent_decision, stage=request.stage)
        decided.append((request, current, desks.teams[choice.team_id], decision))
    desks.save()
    return decided


def _team_choice(request, facts):
    default_team_id, active_rules = selectors.routing_config(request.stage)
    choice = rules.choose_team(active_rules, facts, default_team_id)
    if choice is None:
        raise NoOwningTeam(f"No team owns the stage {request.stage!r}; a manager must set one in Stage owners.")
    return choice


def _previous(request, current, team_id):
    """Sticky's candidate: the agent leaving when re-routing; else the current agent when they
    work in the new team too, else whoever last owned the customer inside that team."""
    if request.reroute:
        return request.from_agent.pk

    def previous(member_ids):
        if current is not None and current.agent_id in member_ids:
            return current.agent_id
        return selectors.last_agent_in_team(request.customer.pk, team_id)

    return previous


def route_many(requests):
    """Route each request, in order; returns the Handoffs written (with their owner rows and events)."""
    decided = route_decisions(requests)
    if not decided:
        return []
    # The owners as they are now, locked, with their names for the timeline: a person may have
    # reassigned one since the decision read it; the handoff then starts from who owns it now.
    owners, reserved = owner_rows.lock_owners([request.customer.pk for request, *_ in decided])
    agents = Agent.objects.select_related("user").in_bulk({d.agent.agent_id for *_, d in decided if d.agent.agent_id})
    transfers = []
    for request, _, team, decision in decided:
        current = owners.get(request.customer.pk)
        if request.reroute and (current is None or current.agent_id != request.from_agent.pk):
            continue  # no longer theirs
        agent = agents.get(decision.agent.agent_id)
        detail = decision.as_detail() | ({"reassigned_from": request.from_agent.pk} if request.reroute else {})
        transfers.append(Transfer(customer=request.customer, current=current, team=team, agent=agent,
                                  reason=request.reason, actor=request.actor, rule=decision.label, detail=detail,
                                  handoff_id=reserved.get(request.customer.pk)))
    return handoffs_write(transfers)


def _route_one(request):
    with transaction.atomic():
        locked = Customer.objects.select_for_update(no_key=True).get(pk=request.customer.pk)
        handoffs = route_many([replace(request, customer=locked)])
    return handoffs[0] if handoffs else None


def route_customer(*, customer, stage, reason, actor, order=None):
    """Hand the customer to the team and agent the rules pick for `stage`; the Handoff, or None.

    None when nothing changes: the customer keeps its agent (a stage move inside one team), or
    nobody can take it and the team already owns it unassigned. Whenever no agent can be chosen,
    `unassigned_customer` is raised (or refreshed): its SLA is the clock until someone takes it.
    """
    return _route_one(RouteRequest(customer=customer, stage=stage, reason=reason, actor=actor, order=order))


def reroute_customer(*, customer, from_agent, reason, actor, to_agent=None):
    """Hand a customer of `from_agent` to another agent of the team that owns it; the Handoff, or
    None when the customer is no longer theirs (someone moved it meanwhile).

    The team stays: an agent leaving is no reason to undo the rule, or the manager, that chose the
    team. `to_agent` is a manager's choice; when they are not in the customer's team, the team's
    mode decides and the handoff's detail says so.
    """
    return _route_one(RouteRequest(customer=customer, stage=customer.stage, reason=reason, actor=actor,
                                   from_agent=from_agent, to_agent=to_agent))


def choose_agent_locked(team_id, *, previous=None, manager_choice=None):
    """Lock the team, read its agents' loads, decide one item's agent: (team, AgentDecision).

    For an exception changing hands inside its queue's team. The lock holds until the caller's
    transaction commits, so routings into one team run one at a time: round robin never hands out
    a slot twice, and least loaded and capacity always count the previous decision.
    """
    desks = TeamDesks([team_id])
    decision = desks.choose(team_id, previous=previous,
                            manager_choice=manager_choice.pk if manager_choice is not None else None)
    desks.save()
    return desks.teams[team_id], decision


__all__ = ["RouteRequest", "TeamDesks", "choose_agent_locked", "reroute_customer", "route_customer",
           "route_decisions", "route_many", "unassigned_subject"]
