"""Routing many customers at once: route_customer's decisions and writes for a whole batch.

The same rules, in the same order, with the same records: for each customer the team by the
routing rules, the agent by the team's mode, a Handoff with the decision, the owner row and a
timeline event. What changes is the cost: owner rows are locked in one statement, each team is
locked and its agents' loads read once, and the decisions that follow each other inside a team
count the previous ones (loads and the round-robin counter are carried in memory under the team's
lock, exactly as one routing after another would read them from the database).

Locks: the caller holds the customers' rows (locked in id order); owner rows, then teams in id
order, follow, the same customer → owner → team order route_customer takes.
"""

from dataclasses import dataclass, replace

from django.db import connection
from django.utils import timezone

from lifecycle import rules
from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, Handoff, Ownership, Team
from lifecycle.selectors import routing as selectors
from lifecycle.services import rows, timeline
from lifecycle.services.errors import NoOwningTeam
from lifecycle.services.exceptions import exception_raise, exception_resolve
from lifecycle.services.ownership import OWNER_ROW, OwnerRow, _for_update, _sql
from lifecycle.services.routing import UNASSIGNED, _bump_sql, unassigned_subject


@dataclass(frozen=True)
class RouteRequest:
    customer: object  # a Customer whose row the caller holds locked
    stage: str
    reason: str
    actor: object
    facts: rules.CustomerFacts


def route_many(requests, events):
    """route_customer for each request, in order; handoff events go to `events`. Returns the Handoffs."""
    choices = [_team_choice(r) for r in requests]
    owners = _lock_owners([r.customer.pk for r in requests])
    pending = []
    for request, choice in zip(requests, choices):
        current = owners.get(request.customer.pk)
        if current and current.team_id == choice.team_id and current.agent_id is not None:
            continue  # a stage move inside one team keeps the agent the customer knows
        pending.append((request, choice, current))
    if not pending:
        return []
    teams = _lock_teams({choice.team_id for _, choice, _ in pending})
    loads = {team_id: {load.agent_id: load for load in selectors.agent_loads(team_id)} for team_id in teams}
    counters = {team_id: team.rr_counter for team_id, team in teams.items()}
    decided = []
    for request, choice, current in pending:
        team = teams[choice.team_id]
        agent_decision = rules.choose_agent(team.routing_mode, list(loads[team.pk].values()),
                                            slot=counters[team.pk], previous_agent_id=_previous(team, loads, request,
                                                                                                current))
        if agent_decision.slot is not None:
            counters[team.pk] = agent_decision.slot + 1
        _count_move(loads, current.agent_id if current else None, agent_decision.agent_id)
        decided.append((request, team, current, rules.RoutingDecision(choice, agent_decision, stage=request.stage)))
    with connection.cursor() as cursor:
        for team_id, counter in counters.items():
            if counter != teams[team_id].rr_counter:
                cursor.execute(_bump_sql(), [counter, team_id])
    return _write(decided, events)


def _team_choice(request):
    default_team_id, active_rules = selectors.routing_config(request.stage)
    choice = rules.choose_team(active_rules, request.facts, default_team_id)
    if choice is None:
        raise NoOwningTeam(f"No team owns the stage {request.stage!r}; a manager must set one in Stage owners.")
    return choice


def _previous(team, loads, request, current):
    """Sticky's candidate, as decide_route finds it; only read for sticky teams."""
    if team.routing_mode != rules.STICKY or current is None:
        return None
    if current.agent_id in loads[team.pk]:
        return current.agent_id
    return selectors.last_agent_in_team(request.customer.pk, team.pk)


def _count_move(loads, from_agent_id, to_agent_id):
    """The customer leaves one agent's load and joins another's, in every team either belongs to."""
    for team_loads in loads.values():
        for agent_id, delta in ((from_agent_id, -1), (to_agent_id, 1)):
            if agent_id is not None and agent_id in team_loads:
                load = team_loads[agent_id]
                team_loads[agent_id] = replace(load, open_items=load.open_items + delta)


def _lock_owners(customer_ids):
    """{customer id: OwnerRow} for those that have an owner, rows locked in customer id order."""
    marks = ", ".join(["%s"] * len(customer_ids))
    sql = _sql(OWNER_ROW.replace("{extra}", "o.customer_id")) + f" WHERE o.customer_id IN ({marks}) ORDER BY o.customer_id"
    with connection.cursor() as cursor:
        cursor.execute(_for_update(sql, of="o"), list(customer_ids))
        return {row[5]: OwnerRow(*row[:5]) for row in cursor.fetchall()}


def _lock_teams(team_ids):
    return {team.pk: team for team in Team.objects.select_for_update().filter(pk__in=team_ids).order_by("pk")}


def _write(decided, events):
    """The Handoffs, owner rows and events of the decisions; unassigned_customer where nobody could
    take a customer, resolved where a customer gets its first agent."""
    now = timezone.now()
    agent_ids = {d.agent.agent_id for _, _, _, d in decided if d.agent.agent_id}
    agents = Agent.objects.select_related("user").in_bulk(agent_ids)
    handoffs, writes = [], []
    for request, team, current, decision in decided:
        agent = agents.get(decision.agent.agent_id)
        if current and (current.team_id, current.agent_id) == (team.pk, None) and agent is None:
            writes.append((request, team, current, decision, None))  # still the team's, unassigned: no handoff
            continue
        handoff = Handoff(
            customer=request.customer, from_team_id=current.team_id if current else None,
            from_agent_id=current.agent_id if current else None, to_team=team, to_agent=agent,
            reason=request.reason, rule=decision.label, detail=decision.as_detail(), created_at=now,
            **request.actor.as_fields(),
        )
        handoffs.append(handoff)
        writes.append((request, team, current, decision, handoff))
    rows.insert_many(Handoff, handoffs)
    added, moved = [], []
    for request, team, current, decision, handoff in writes:
        if handoff is None:
            continue
        owner = Ownership(customer=request.customer, team=team, agent=handoff.to_agent, since=now,
                          last_handoff=handoff)
        if current:
            owner.pk = current.id
            moved.append(owner)
        else:
            added.append(owner)
        events.append(timeline.handoff_event(handoff=handoff, actor=request.actor,
                                             from_owner=current.label if current else "nobody"))
    rows.insert_many(Ownership, added)
    if moved:
        rows.update_many(Ownership, moved, ["team", "agent", "since", "last_handoff"])
    _unassigned_clocks(writes)
    return handoffs


def _unassigned_clocks(writes):
    """Start (or refresh) the clock for customers nobody could take; stop it for those who got an agent."""
    got_agent = []
    for request, team, current, decision, handoff in writes:
        if decision.agent.agent_id is None:
            exception_raise(
                kind=UNASSIGNED, subject_key=unassigned_subject(request.customer.pk), customer=request.customer,
                actor=request.actor, summary=f"No agent of {team} can take this customer",
                evidence={"team": team.slug, "team_id": team.pk, "rule": decision.label,
                          "skipped": decision.as_detail()["skipped"]},
            )
        elif not (current and current.agent_id):
            got_agent.append((unassigned_subject(request.customer.pk), request, handoff))
    if not got_agent:
        return
    # Most customers getting an agent never waited for one: find the clocks that are running first.
    running = set(ExceptionCase.objects.filter(kind=UNASSIGNED, status__in=OPEN_STATUSES,
                                               subject_key__in=[s for s, _, _ in got_agent])
                  .values_list("subject_key", flat=True))
    for subject, request, handoff in got_agent:
        if subject in running:
            exception_resolve(kind=UNASSIGNED, subject_key=subject, actor=request.actor,
                              reason=f"{handoff.to_agent} owns the customer now ({request.reason})")
