"""Re-routing: deactivating an agent or marking them away hands their customers and open exceptions
on, by the routing rules or to a manager's choice, previewed first, each customer move a handoff."""

import pytest

from lifecycle import rules
from lifecycle.actors import Actor
from lifecycle.models import (
    Agent,
    ExceptionCase,
    ExceptionKind,
    Handoff,
    Ownership,
    Team,
    TimelineEvent,
)
from lifecycle.services.agents import agent_deactivate, agent_set_availability, preview_reassignment
from lifecycle.services.errors import InvalidOwner, PermissionDenied
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.ownership import ownership_transfer
from lifecycle.services.routing import route_customer
from tests.factories import SYSTEM, make_agent, make_customer, make_user, team
from tests.concurrency import race

pytestmark = pytest.mark.django_db
K = ExceptionKind


# --- arrange helpers -----------------------------------------------------------------------------
def _customers_of(agent, n, slug="success"):
    made = []
    for _ in range(n):
        customer = make_customer()
        ownership_transfer(customer=customer, team=team(slug), agent=agent, reason="arrange", actor=SYSTEM)
        made.append(customer)
    return made


def _exceptions_of(agent, n, queue="success", status="in_progress"):
    made = []
    for _ in range(n):
        customer = make_customer()
        exception, _ = exception_raise(kind=K.AT_RISK, subject_key=f"customer:{customer.pk}", summary="health 30",
                                       customer=customer, actor=SYSTEM)
        # arrange: in this queue and worked by this agent (as a claim or a manager's assignment leaves it)
        ExceptionCase.objects.filter(pk=exception.pk).update(
            queue=team(queue) if queue else None, assignee=agent, status=status)
        made.append(ExceptionCase.objects.get(pk=exception.pk))
    return made


def _snapshot():
    """Everything re-routing could write, to prove a preview or a refusal wrote nothing."""
    return (
        sorted(Ownership.objects.values_list("customer_id", "team_id", "agent_id")),
        sorted(ExceptionCase.objects.values_list("pk", "assignee_id", "status")),
        Handoff.objects.count(),
        TimelineEvent.objects.count(),
        sorted(Team.objects.values_list("pk", "rr_counter")),
        sorted((a.pk, a.is_available, a.user.is_active) for a in Agent.objects.select_related("user")),
    )


@pytest.fixture
def manager_actor(manager):
    return Actor.for_user(manager)


# --- deactivation ----------------------------------------------------------------------------------
def test_deactivation_hands_every_customer_and_open_exception_on_each_customer_as_a_handoff(manager_actor):
    # given an agent with three customers, two open exceptions and a closed one, and two team mates
    leaving = make_agent(teams=["success"])
    mates = [make_agent(teams=["success"]), make_agent(teams=["success"])]
    customers = _customers_of(leaving, 3)
    open_items = _exceptions_of(leaving, 2)
    closed, = _exceptions_of(leaving, 1, status="resolved")
    # when a manager deactivates the agent
    moves = agent_deactivate(agent=leaving, actor=manager_actor)
    # then the login is off, and nobody's customer or open exception is theirs any more
    leaving.user.refresh_from_db()
    assert leaving.user.is_active is False
    assert not Ownership.objects.filter(agent=leaving).exists()
    assert not ExceptionCase.objects.filter(assignee=leaving, status__in=["open", "in_progress"]).exists()
    # and each customer moved inside its team by one handoff that says why and how
    for customer in customers:
        handoff = Handoff.objects.filter(customer=customer).order_by("-created_at", "-pk").first()
        assert (handoff.reason, handoff.from_agent, handoff.to_team.slug) == ("agent deactivated", leaving, "success")
        assert handoff.to_agent in mates and handoff.actor_user == manager_actor.user
        assert handoff.rule == "current_team:prospect/least_loaded"
        assert handoff.detail["reassigned_from"] == leaving.pk
        assert handoff.detail["skipped"] == {str(leaving.pk): "deactivated"}
    # and the exceptions went to team mates, the closed one keeps its history
    for exception in open_items:
        exception.refresh_from_db()
        assert exception.assignee in mates and exception.status == "in_progress"
    closed.refresh_from_db()
    assert closed.assignee == leaving
    # and the moves returned list exactly that
    assert [(m.kind, m.object_id) for m in moves] == (
        [("customer", c.pk) for c in customers] + [("exception", e.pk) for e in open_items])
    # the load was spread: least loaded alternates between the two mates
    assert sorted(Ownership.objects.filter(customer__in=customers).values_list("agent_id", flat=True)) == sorted(
        [mates[0].pk, mates[1].pk, mates[0].pk])


def test_deactivation_with_nobody_to_take_over_leaves_team_owners_and_queue_items(manager_actor):
    leaving = make_agent(teams=["success"])
    make_agent(teams=["success"], available=False)
    customer, = _customers_of(leaving, 1)
    team_item, = _exceptions_of(leaving, 1)
    managers_item, = _exceptions_of(leaving, 1, queue=None)
    agent_deactivate(agent=leaving, actor=manager_actor)
    # the team owns the customer unassigned, and the "no agent" clock runs
    assert Ownership.objects.filter(customer=customer).values_list("team__slug", "agent").get() == ("success", None)
    unassigned = ExceptionCase.objects.get(kind=K.UNASSIGNED_CUSTOMER, subject_key=f"customer:{customer.pk}")
    assert unassigned.status == "open"
    # both exceptions are back in their queues, unclaimed
    for item in (team_item, managers_item):
        item.refresh_from_db()
        assert (item.assignee, item.status, item.claimed_at) == (None, "open", None)
    assert TimelineEvent.objects.filter(customer=team_item.customer, kind="exception_released").exists()


def test_deactivation_routes_by_the_teams_mode_round_robin_included(manager_actor):
    Team.objects.filter(slug="success").update(routing_mode=rules.ROUND_ROBIN)
    leaving = make_agent(teams=["success"])
    mates = [make_agent(teams=["success"]) for _ in range(2)]
    customers = _customers_of(leaving, 4)
    start = team("success").rr_counter
    agent_deactivate(agent=leaving, actor=manager_actor)
    handoffs = [Handoff.objects.filter(customer=c).order_by("-created_at", "-pk").first() for c in customers]
    assert [h.detail["slot"] for h in handoffs] == list(range(start, start + 4))
    assert [h.to_agent for h in handoffs] == [mates[s % 2] for s in range(start, start + 4)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_routing_running_at_the_same_moment_leaves_a_customer_with_the_deactivated_agent():
    # given a round-robin team of two, one of whom is deactivated while 60 customers are routed in
    Team.objects.filter(slug="success").update(routing_mode=rules.ROUND_ROBIN)
    leaving, staying = make_agent(teams=["success"], capacity=500), make_agent(teams=["success"], capacity=500)
    _customers_of(leaving, 5)
    incoming = [make_customer() for _ in range(60)]
    manager = make_user(group="Manager")

    def work(i):
        if i == 0:
            return agent_deactivate(agent=leaving, actor=Actor.for_user(manager))
        for customer in incoming:
            route_customer(customer=customer, stage="onboarding", reason="new", actor=SYSTEM)
        return "routed"

    results, _ = race(2, work)
    assert not any(isinstance(r, Exception) or r is None for r in results), results
    # then whatever the interleaving, nothing is left with the deactivated agent: all went to the other
    assert not Ownership.objects.filter(agent=leaving).exists()
    assert set(Ownership.objects.filter(customer__in=incoming).values_list("agent_id", flat=True)) == {staying.pk}


# --- away, and a manager's choice ----------------------------------------------------------------
def test_away_with_a_managers_choice_gives_everything_to_that_agent(manager_actor):
    leaving = make_agent(teams=["success", "support"])
    chosen = make_agent(teams=["success"], capacity=1)  # a manager may load someone past capacity
    make_agent(teams=["success"])
    support_mate = make_agent(teams=["support"])
    in_success = _customers_of(leaving, 2)
    in_support, = _customers_of(leaving, 1, slug="support")
    item, = _exceptions_of(leaving, 1)
    # when a manager marks the agent away and names who takes over
    agent_set_availability(agent=leaving, available=False, actor=manager_actor, reassign_to=chosen)
    # then the success customers and the exception went to the chosen agent, recorded as the manager's choice
    for customer in in_success:
        handoff = Handoff.objects.filter(customer=customer).order_by("-created_at", "-pk").first()
        assert (handoff.to_agent, handoff.reason) == (chosen, "agent away")
        assert handoff.rule == "current_team:prospect/manager_choice"
    item.refresh_from_db()
    assert item.assignee == chosen
    # and the support customer, whom the chosen agent cannot own, was routed in support, saying why
    handoff = Handoff.objects.filter(customer=in_support).order_by("-created_at", "-pk").first()
    assert handoff.to_agent == support_mate
    assert handoff.detail["fallback"] == f"manager's choice {chosen.pk} is not in this team: least_loaded"
    leaving.refresh_from_db()
    assert leaving.is_available is False and leaving.user.is_active is True


def test_an_agent_marks_themselves_away_and_their_work_is_routed_on():
    me = make_agent(teams=["success"])
    mate = make_agent(teams=["success"])
    customer, = _customers_of(me, 1)
    moves = agent_set_availability(agent=me, available=False, actor=Actor.for_user(me.user))
    assert Ownership.objects.get(customer=customer).agent == mate
    assert [m.to_agent_id for m in moves] == [mate.pk]
    assert moves[0].skipped == {str(me.pk): "off shift"}


def test_away_without_reassigning_keeps_the_work_and_back_on_shift_moves_nothing():
    me = make_agent(teams=["success"])
    make_agent(teams=["success"])
    customer, = _customers_of(me, 1)
    actor = Actor.for_user(me.user)
    assert agent_set_availability(agent=me, available=False, actor=actor, reassign=False) == []
    assert Ownership.objects.get(customer=customer).agent == me
    assert agent_set_availability(agent=me, available=True, actor=actor) == []
    me.refresh_from_db()
    assert me.is_available is True


# --- preview -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [rules.LEAST_LOADED, rules.ROUND_ROBIN, rules.STICKY])
def test_the_preview_writes_nothing_and_is_what_the_real_run_does(mode, manager_actor):
    # given an agent with customers and exceptions in two teams, and mates with different loads
    Team.objects.filter(slug__in=["success", "support"]).update(routing_mode=mode)
    leaving = make_agent(teams=["success", "support"])
    busy, idle = make_agent(teams=["success"], capacity=10), make_agent(teams=["success"], capacity=10)
    _customers_of(busy, 4)
    full = make_agent(teams=["support"], capacity=1)
    _customers_of(full, 1, slug="support")
    _customers_of(leaving, 5)
    _customers_of(leaving, 2, slug="support")
    _exceptions_of(leaving, 2)
    _exceptions_of(leaving, 1, queue=None)
    before = _snapshot()
    # when a manager previews the deactivation
    plan = preview_reassignment(leaving, deactivate=True)
    # then nothing was written
    assert _snapshot() == before
    # and the plan lists every move, with the decision the real run then makes
    assert len(plan) == 10
    assert {m.to_agent_id for m in plan if m.kind == "customer" and m.team_id == team("support").pk} == {None}
    assert all(m.skipped[str(full.pk)] == "at capacity (1/1)" for m in plan if m.team_id == team("support").pk)
    made = agent_deactivate(agent=leaving, actor=manager_actor)
    assert made == plan


def test_the_preview_of_a_managers_choice_names_the_chosen_agent(manager):
    leaving = make_agent(teams=["success"])
    chosen = make_agent(teams=["success"])
    customer, = _customers_of(leaving, 1)
    plan = preview_reassignment(leaving, reassign_to=chosen)
    assert [(m.kind, m.object_id, m.to_agent_id, m.rule) for m in plan] == [
        ("customer", customer.pk, chosen.pk, "current_team:prospect/manager_choice")]
    assert Ownership.objects.get(customer=customer).agent == leaving


# --- who may -------------------------------------------------------------------------------------
def test_only_managers_deactivate_agents(support_agent):
    leaving = make_agent(teams=["success"])
    _customers_of(leaving, 1)
    before = _snapshot()
    with pytest.raises(PermissionDenied, match="Only managers can deactivate an agent"):
        agent_deactivate(agent=leaving, actor=Actor.for_user(support_agent))
    assert _snapshot() == before


def test_agents_change_only_their_own_availability(support_agent):
    other = make_agent(teams=["success"])
    before = _snapshot()
    with pytest.raises(PermissionDenied, match="only change your own availability"):
        agent_set_availability(agent=other, available=False, actor=Actor.for_user(support_agent))
    assert _snapshot() == before


def test_only_managers_choose_who_takes_over(support_agent):
    me = support_agent.agent
    mate = make_agent(teams=["success"])
    with pytest.raises(PermissionDenied, match="Only managers choose who takes over"):
        agent_set_availability(agent=me, available=False, actor=Actor.for_user(support_agent), reassign_to=mate)
    me.refresh_from_db()
    assert me.is_available is True


def test_the_successor_must_be_someone_else_and_active(manager_actor):
    leaving = make_agent(teams=["success"])
    gone = make_agent(teams=["success"])
    gone.user.is_active = False
    gone.user.save()
    with pytest.raises(InvalidOwner, match="cannot take over their own work"):
        agent_deactivate(agent=leaving, actor=manager_actor, reassign_to=leaving)
    with pytest.raises(InvalidOwner, match="is deactivated; choose an active agent"):
        agent_set_availability(agent=leaving, available=False, actor=manager_actor, reassign_to=gone)
    leaving.refresh_from_db()
    assert leaving.is_available and leaving.user.is_active
