"""Routing a customer: the team by routing rules, the agent by the team's mode, written as one handoff.

rules.py decides and the selectors read the facts; this module locks, glues them and writes.
Locks are always taken customer first, then team (a stage move locks the customer before it
routes), so two routings may wait for each other but never deadlock.
"""

import functools

from django.db import connection, transaction

from lifecycle import rules
from lifecycle.selectors import routing as selectors
from lifecycle.models import Agent, Customer, ExceptionKind, Team
from lifecycle.services.errors import NoOwningTeam
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.ownership import ownership_transfer

UNASSIGNED = ExceptionKind.UNASSIGNED_CUSTOMER


def unassigned_subject(customer_id):
    return f"customer:{customer_id}"


def decide_team(*, customer, stage, order=None):
    """The team for a customer entering `stage` (first matching rule, else the stage default)."""
    facts = selectors.routing_facts(customer=customer, stage=stage, order=order)
    default_team_id, active_rules = selectors.routing_config(stage)
    choice = rules.choose_team(active_rules, facts, default_team_id)
    if choice is None:
        raise NoOwningTeam(f"No team owns the stage {stage!r}; a manager must set one in Stage owners.")
    return choice


@functools.cache
def _lock_team_sql():
    table, pk = connection.ops.quote_name(Team._meta.db_table), connection.ops.quote_name(Team._meta.pk.column)
    lock = f" {connection.ops.for_update_sql()}" if connection.features.has_select_for_update else ""
    return f"SELECT * FROM {table} WHERE {pk} = %s{lock}"


@functools.cache
def _bump_sql():
    column, pk = (connection.ops.quote_name(Team._meta.get_field(f).column) for f in ("rr_counter", "id"))
    return f"UPDATE {connection.ops.quote_name(Team._meta.db_table)} SET {column} = %s WHERE {pk} = %s"


def _lock_team(team_id):
    # Team.objects.select_for_update().get() and the counter's update as SQL: building those
    # queries was a third of the routing decision's time (see benchmarks/bench_routing.py).
    return Team.objects.raw(_lock_team_sql(), [team_id])[0]


def choose_agent_locked(team_id, *, previous=None, manager_choice=None):
    """Lock the team row, read its agents' loads, decide; return (team, AgentDecision).

    The lock holds until the caller's transaction commits, so routings into one team run one at a
    time: round robin never hands out a slot twice (the counter is read and bumped under it), and
    least loaded and capacity always count the previous decision's customer. `previous` is the
    sticky candidate: an agent id, or a function of the team's member ids returning one (so the
    history is only read when the team is sticky). Call it inside a transaction.
    """
    team = _lock_team(team_id)
    loads = selectors.agent_loads(team)
    previous_id = None
    if team.routing_mode == rules.STICKY and previous is not None:
        previous_id = previous({load.agent_id for load in loads}) if callable(previous) else previous
    decision = rules.choose_agent(
        team.routing_mode, loads, slot=team.rr_counter, previous_agent_id=previous_id,
        manager_choice=manager_choice.pk if manager_choice is not None else None,
    )
    if decision.slot is not None:
        with connection.cursor() as cursor:
            cursor.execute(_bump_sql(), [decision.slot + 1, team.pk])
    return team, decision


def decide_route(*, customer, stage, order=None):
    """The routing decision for a customer entering `stage`: (team, RoutingDecision), or None when
    the customer already belongs to the chosen team with an agent (a stage move inside one team
    keeps the agent the customer knows). Takes the team's lock: call it inside a transaction.
    """
    choice = decide_team(customer=customer, stage=stage, order=order)
    current_team, current_agent = selectors.current_owner_ids(customer.pk) or (None, None)
    if current_team == choice.team_id and current_agent is not None:
        return None

    def previous(member_ids):
        # Sticky: the current agent when they work in the new team too, else whoever last owned
        # the customer inside that team.
        if current_agent in member_ids:
            return current_agent
        return selectors.last_agent_in_team(customer.pk, choice.team_id)

    team, agent_decision = choose_agent_locked(choice.team_id, previous=previous)
    return team, rules.RoutingDecision(choice, agent_decision, stage=stage)


def route_customer(*, customer, stage, reason, actor, order=None):
    """Hand the customer to the team and agent the rules pick for `stage`; the Handoff, or None.

    None when nothing changes: the customer keeps its agent (see decide_route), or nobody can take
    it and the team already owns it unassigned. Whenever no agent can be chosen,
    `unassigned_customer` is raised (or refreshed): its SLA is the clock until someone takes the customer.
    """
    with transaction.atomic():
        # Fresh tags and country under the lock that serialises this customer's ownership changes.
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        decided = decide_route(customer=locked, stage=stage, order=order)
        if decided is None:
            return None
        team, decision = decided
        return _hand_over(customer=locked, team=team, decision=decision, reason=reason, actor=actor)


def reroute_customer(*, customer, from_agent, reason, actor, to_agent=None):
    """Hand a customer of `from_agent` to another agent of the team that owns it; the Handoff, or
    None when the customer is no longer theirs (someone moved it meanwhile).

    The team stays: an agent leaving is no reason to undo the rule, or the manager, that chose the
    team. `to_agent` is a manager's choice; when they are not in the customer's team, the team's
    mode decides and the handoff's detail says so.
    """
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        current = selectors.current_owner_ids(customer.pk)
        if current is None or current[1] != from_agent.pk:
            return None
        choice = rules.TeamChoice(current[0], source=rules.CURRENT_TEAM)
        team, agent_decision = choose_agent_locked(current[0], previous=from_agent.pk, manager_choice=to_agent)
        decision = rules.RoutingDecision(choice, agent_decision, stage=locked.stage)
        return _hand_over(customer=locked, team=team, decision=decision, reason=reason, actor=actor,
                          extra={"reassigned_from": from_agent.pk})


def _hand_over(*, customer, team, decision, reason, actor, extra=None):
    agent_id = decision.agent.agent_id
    agent = Agent.objects.select_related("user").get(pk=agent_id) if agent_id else None
    detail = decision.as_detail() | (extra or {})
    handoff = ownership_transfer(
        customer=customer, team=team, agent=agent, reason=reason, actor=actor, rule=decision.label, detail=detail,
    )
    if agent is None:
        # Resolved by ownership_transfer as soon as any path gives the customer an agent.
        exception_raise(
            kind=UNASSIGNED, subject_key=unassigned_subject(customer.pk), customer=customer, actor=actor,
            summary=f"No agent of {team} can take this customer",
            evidence={"team": team.slug, "team_id": team.pk, "rule": decision.label, "skipped": detail["skipped"]},
        )
    return handoff
