"""Routing: the team by rule (else the stage default), the agent by the team's mode, every decision
explained on the handoff, and `unassigned_customer` when nobody can take the customer."""

import itertools
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from lifecycle import rules
from lifecycle.actors import Actor
from lifecycle.models import (
    Customer,
    ExceptionCase,
    ExceptionKind,
    Handoff,
    Order,
    Ownership,
    RoutingRule,
    Stage,
    Team,
)
from lifecycle.selectors import routing as routing_selectors
from lifecycle.services import sla as sla_service
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.ownership import owner_reassign, ownership_transfer
from lifecycle.services.routing import route_customer
from tests.concurrency import race
from tests.factories import SYSTEM, make_agent, make_customer, make_order, make_user, team

pytestmark = pytest.mark.django_db
ONBOARDING = Stage.ONBOARDING
_keys = itertools.count(1)


# --- arrange helpers -----------------------------------------------------------------------------
def _customer(*, country="", tags=(), orders=(("main", "49.90", ()),)):
    """A customer with orders (store, total, categories), oldest first; tags and categories are
    set directly because no service writes them yet (the shop mappers will)."""
    customer = make_customer(country=country)
    Customer.objects.filter(pk=customer.pk).update(tags=list(tags))
    for store, total, categories in orders:
        order = make_order(customer, namespace=store, total=total)
        Order.objects.filter(pk=order.pk).update(product_categories=list(categories))
    customer.refresh_from_db()
    return customer


def _mode(slug, mode):
    Team.objects.filter(slug=slug).update(routing_mode=mode)
    return team(slug)


def _rule(team_slug, priority=100, **conditions):
    return RoutingRule.objects.create(name=f"to {team_slug}", team=team(team_slug), priority=priority, **conditions)


def _route(customer, stage=ONBOARDING, **extra):
    return route_customer(customer=customer, stage=stage, reason="test routing", actor=SYSTEM, **extra)


def _owner(customer):
    owner = Ownership.objects.get(customer=customer)
    return owner.team.slug, owner.agent


def _load(agent, *, customers=0, exceptions=0):
    """Give the agent open customers (through the service) and open assigned exceptions."""
    home = agent.teams.order_by("pk").first()
    for _ in range(customers):
        ownership_transfer(customer=make_customer(), team=home, agent=agent, reason="arrange", actor=SYSTEM)
    for _ in range(exceptions):
        exception, _ = exception_raise(kind=ExceptionKind.SYNC_FAILURE, subject_key=f"store:load{next(_keys)}",
                                       summary="arrange", actor=SYSTEM)
        ExceptionCase.objects.filter(pk=exception.pk).update(assignee=agent, status="in_progress")


def _unassigned(customer):
    return ExceptionCase.objects.filter(kind=ExceptionKind.UNASSIGNED_CUSTOMER, subject_key=f"customer:{customer.pk}")


# --- the team --------------------------------------------------------------------------------------
def test_without_a_matching_rule_the_stage_default_team_takes_the_customer():
    customer = _customer()
    _rule("sales", store="other-shop")
    handoff = _route(customer)
    assert _owner(customer)[0] == "success"
    assert handoff.rule == "stage_default:onboarding/least_loaded"
    assert handoff.detail["rule_id"] == "stage_default"


SEGMENTS = [
    # (rule conditions, customer that matches, customer that does not)
    ({"store": "eu-shop"}, {"orders": [("eu-shop", "10", ())]}, {"orders": [("us-shop", "10", ())]}),
    ({"country": "DE"}, {"country": "DE"}, {"country": "FR"}),
    ({"min_order_total": Decimal("500")}, {"orders": [("main", "500.00", ())]}, {"orders": [("main", "499.99", ())]}),
    ({"max_order_total": Decimal("20")}, {"orders": [("main", "20.00", ())]}, {"orders": [("main", "20.01", ())]}),
    ({"product_category": "Espresso machines"}, {"orders": [("main", "10", ("Coffee", "espresso machines"))]},
     {"orders": [("main", "10", ("Coffee",))]}),
    ({"customer_tag": "vip"}, {"tags": ["VIP", "b2b"]}, {"tags": ["b2b"]}),
    ({"stage": ONBOARDING}, {}, None),  # the non-matching case routes into another stage, below
]


@pytest.mark.parametrize("conditions, matching, other", SEGMENTS,
                         ids=["store", "country", "min_total", "max_total", "category", "tag", "stage"])
def test_a_rule_takes_the_customers_of_its_segment_and_only_those(conditions, matching, other):
    # given a customer of a segment, one outside it, and a rule sending the segment to sales
    inside = _customer(**matching)
    if other is None:
        outside, stage, default = _customer(), Stage.LOYAL, "marketing"
    else:
        outside, stage, default = _customer(**other), ONBOARDING, "success"
    rule = _rule("sales", **conditions)
    # when both are routed (into onboarding)
    handoff = _route(inside)
    _route(outside, stage=stage)
    # then sales takes the first, recorded with the rule's id, and the stage default the second
    assert _owner(inside)[0] == "sales"
    assert handoff.rule == f"rule:{rule.pk}/least_loaded" and handoff.detail["rule_id"] == rule.pk
    assert _owner(outside)[0] == default


def test_every_condition_of_a_rule_must_hold():
    _rule("sales", country="DE", customer_tag="vip")
    german = _customer(country="DE")
    _route(german)
    assert _owner(german)[0] == "success"
    german_vip = _customer(country="DE", tags=["vip"])
    _route(german_vip)
    assert _owner(german_vip)[0] == "sales"


def test_the_lowest_priority_number_wins_then_the_oldest_rule_and_inactive_rules_never_match():
    customer = _customer(country="DE")
    _rule("support", priority=50, country="DE", is_active=False)
    _rule("marketing", priority=20, country="DE")
    first_at_10 = _rule("sales", priority=10, country="DE")
    _rule("support", priority=10, country="DE")
    handoff = _route(customer)
    assert _owner(customer)[0] == "sales" and handoff.detail["rule_id"] == first_at_10.pk


def test_order_value_is_the_triggering_order_else_the_latest():
    _rule("sales", min_order_total=Decimal("1000"))
    big_then_small = _customer(orders=[("main", "5000", ()), ("main", "10", ())])
    _route(big_then_small)
    assert _owner(big_then_small)[0] == "success"  # the latest order is small
    big = Order.objects.filter(customer=big_then_small, total=Decimal("5000")).get()
    _route(big_then_small, stage=Stage.ACTIVE, order=big)
    assert _owner(big_then_small)[0] == "sales"  # routed for the big order


def test_paying_the_first_order_routes_through_the_rules():
    # given a rule for the EU shop's onboarding customers
    rule = _rule("sales", stage=ONBOARDING, store="eu-shop")
    # when a customer pays a first order there, through the order service
    customer = make_customer()
    make_order(customer, namespace="eu-shop", state="paid")
    # then the stage move's handoff was decided by the rule
    handoff = Handoff.objects.filter(customer=customer).order_by("-created_at", "-pk").first()
    assert (_owner(customer)[0], handoff.rule) == ("sales", f"rule:{rule.pk}/least_loaded")


# --- the agent: round robin ----------------------------------------------------------------------
def test_round_robin_walks_the_available_agents_in_turn_with_one_slot_per_decision():
    success = _mode("success", rules.ROUND_ROBIN)
    agents = [make_agent(teams=["success"]) for _ in range(3)]
    start = success.rr_counter
    handoffs = [_route(make_customer()) for _ in range(7)]
    assert [h.to_agent for h in handoffs] == [agents[i % 3] for i in range(start, start + 7)]
    assert [h.detail["slot"] for h in handoffs] == list(range(start, start + 7))
    assert handoffs[0].rule == "stage_default:onboarding/round_robin"
    assert team("success").rr_counter == start + 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_round_robin_is_fair_under_concurrent_routing():
    # given five agents in a round-robin team and 1,000 customers without an owner
    _mode("success", rules.ROUND_ROBIN)
    agents = [make_agent(teams=["success"], capacity=1000) for _ in range(5)]
    customers = [make_customer() for _ in range(1000)]

    # when two workers route 500 customers each at the same moment
    def work(i):
        for customer in customers[i::2]:
            _route(customer)
        return "done"

    results, seconds = race(2, work)
    print(f"2 x 500 concurrent routings: {seconds:.1f} s")
    assert results == ["done", "done"], results

    # then every customer got one of the agents, no slot was handed out twice, and counts differ by at most 1
    handoffs = list(Handoff.objects.filter(customer__in=customers))
    assert len(handoffs) == 1000
    slots = [h.detail["slot"] for h in handoffs]
    assert len(set(slots)) == 1000 and max(slots) - min(slots) == 999
    counts = Counter(Ownership.objects.filter(customer__in=customers).values_list("agent_id", flat=True))
    assert set(counts) == {a.pk for a in agents}
    assert max(counts.values()) - min(counts.values()) <= 1, counts


@given(start=st.integers(0, 10_000), n=st.integers(0, 200), agents=st.integers(1, 12))
def test_round_robin_slots_split_any_run_within_one(start, n, agents):
    loads = [rules.AgentLoad(agent_id=i + 1, open_items=0, capacity=10**6) for i in range(agents)]
    picks = Counter(rules.choose_agent(rules.ROUND_ROBIN, loads, slot=s).agent_id for s in range(start, start + n))
    counts = [picks.get(load.agent_id, 0) for load in loads]
    assert max(counts) - min(counts) <= 1


def _one_at_a_time(mode, loads, previous, slot):
    """The decisions a batch must equal: each item decided alone from the loads as the previous
    decisions left them (what routing one customer after another would read back)."""
    loads, decisions = {load.agent_id: load for load in loads}, []
    for previous_agent_id in previous:
        eligible = sorted((load for load in loads.values() if rules.skip_reason(load) is None),
                          key=lambda load: load.agent_id)
        if mode == rules.ROUND_ROBIN:
            agent_id = eligible[slot % len(eligible)].agent_id if eligible else None
        elif mode == rules.STICKY and previous_agent_id in {load.agent_id for load in eligible}:
            agent_id = previous_agent_id
        else:
            agent_id = min(eligible, key=lambda x: (x.ratio, x.open_items, x.agent_id)).agent_id if eligible else None
        if agent_id is not None:
            loads[agent_id] = rules.AgentLoad(agent_id, loads[agent_id].open_items + 1, loads[agent_id].capacity)
            slot += mode == rules.ROUND_ROBIN
        decisions.append(agent_id)
    return decisions


@given(mode=st.sampled_from([rules.ROUND_ROBIN, rules.LEAST_LOADED, rules.STICKY]),
       loads=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans()), min_size=0, max_size=8),
       previous=st.lists(st.one_of(st.none(), st.integers(1, 9)), max_size=40), slot=st.integers(0, 50))
def test_a_batch_of_decisions_equals_the_same_items_decided_one_at_a_time(mode, loads, previous, slot):
    loads = [rules.AgentLoad(i + 1, open_items, capacity, is_available=available)
             for i, (open_items, capacity, available) in enumerate(loads)]
    batch = rules.choose_agents(mode, loads, previous, slot=slot)
    assert [d.agent_id for d in batch] == _one_at_a_time(mode, loads, previous, slot)
    assert all(d.agent_id is None or d.agent_id not in d.skipped for d in batch)


# --- the agent: least loaded, capacity, availability -----------------------------------------------
def test_least_loaded_counts_open_customers_and_open_exceptions_relative_to_capacity():
    # given A with 4 customers of 10, and B with 2 customers and 3 open exceptions of 10
    a = make_agent(teams=["success"], capacity=10)
    b = make_agent(teams=["success"], capacity=10)
    _load(a, customers=4)
    _load(b, customers=2, exceptions=3)
    # and a closed exception of B's, which is no load
    closed, _ = exception_raise(kind=ExceptionKind.SYNC_FAILURE, subject_key="store:closed", summary="x", actor=SYSTEM)
    ExceptionCase.objects.filter(pk=closed.pk).update(assignee=b, status="resolved")
    # when a customer is routed, then A (4/10) takes it over B (5/10)
    assert _route(_customer()).to_agent == a


def test_least_loaded_weighs_capacity_then_fewer_items_then_the_lowest_id():
    small = make_agent(teams=["success"], capacity=10)
    large = make_agent(teams=["success"], capacity=40)
    _load(small, customers=3)  # 30 %
    _load(large, customers=8)  # 20 %: busier in items, freer for its capacity
    assert _route(_customer()).to_agent == large  # now 9/40 = 22.5 %
    a = make_agent(teams=["support"], capacity=10)
    b = make_agent(teams=["support"], capacity=20)
    _load(a, customers=1)
    _load(b, customers=2)  # both 10 %: a has fewer items
    helpdesk_customer = _customer(tags=["help"])
    _rule("support", customer_tag="help")
    assert _route(helpdesk_customer).to_agent == a
    c = make_agent(teams=["marketing"])
    make_agent(teams=["marketing"])
    assert _route(_customer(), stage=Stage.LOYAL).to_agent == c  # all equal: the lowest id


def test_unavailable_agents_are_skipped_and_why_is_recorded_on_the_handoff():
    # given a team with an agent off shift, a deactivated one, one at capacity, and one free
    off_shift = make_agent(teams=["success"], available=False)
    deactivated = make_agent(teams=["success"])
    deactivated.user.is_active = False
    deactivated.user.save()
    full = make_agent(teams=["success"], capacity=2)
    _load(full, customers=1, exceptions=1)
    free = make_agent(teams=["success"], capacity=40)
    _load(free, customers=30)  # busier than all the others, but the only one who can take it
    # when a customer is routed into the team
    handoff = _route(_customer())
    # then the free agent takes it and the handoff says why each other agent was passed over
    assert handoff.to_agent == free
    assert handoff.detail["skipped"] == {
        str(off_shift.pk): "off shift", str(deactivated.pk): "deactivated", str(full.pk): "at capacity (2/2)",
    }
    assert handoff.detail["mode"] == "least_loaded" and handoff.detail["agent_id"] == free.pk


@pytest.mark.parametrize("mode", [rules.ROUND_ROBIN, rules.LEAST_LOADED, rules.STICKY])
def test_no_mode_ever_picks_an_unavailable_agent(mode):
    _mode("success", mode)
    make_agent(teams=["success"], available=False)
    only = make_agent(teams=["success"], capacity=3)
    picked = [_route(_customer()).to_agent for _ in range(3)]
    assert picked == [only] * 3
    fourth = _customer()
    _route(fourth)
    assert _owner(fourth) == ("success", None)  # `only` is at capacity now


# --- the agent: sticky -------------------------------------------------------------------------
def test_sticky_gives_the_customer_back_to_the_agent_who_had_it_in_the_team():
    success = _mode("success", rules.STICKY)
    previous = make_agent(teams=["success"])
    make_agent(teams=["success"])  # lower load would win under least loaded
    _load(previous, customers=5)
    customer = _customer()
    ownership_transfer(customer=customer, team=success, agent=previous, reason="onboarding", actor=SYSTEM)
    ownership_transfer(customer=customer, team=team("support"), reason="a delivery question", actor=SYSTEM)
    handoff = _route(customer, stage=Stage.ACTIVE)
    assert handoff.to_agent == previous
    assert (handoff.detail["mode"], handoff.detail["fallback"]) == ("sticky", None)


def test_sticky_falls_back_to_least_loaded_when_the_previous_owner_is_away():
    success = _mode("success", rules.STICKY)
    previous = make_agent(teams=["success"])
    other = make_agent(teams=["success"])
    customer = _customer()
    ownership_transfer(customer=customer, team=success, agent=previous, reason="onboarding", actor=SYSTEM)
    ownership_transfer(customer=customer, team=team("support"), reason="a delivery question", actor=SYSTEM)
    previous.is_available = False
    previous.save()
    handoff = _route(customer, stage=Stage.ACTIVE)
    assert handoff.to_agent == other
    assert handoff.detail["fallback"] == f"previous owner {previous.pk} off shift: least loaded"
    assert handoff.detail["skipped"] == {str(previous.pk): "off shift"}


def test_sticky_without_a_previous_owner_in_the_team_says_so():
    _mode("success", rules.STICKY)
    agent = make_agent(teams=["success"])
    handoff = _route(_customer())
    assert handoff.to_agent == agent
    assert handoff.detail["fallback"] == "no previous owner in this team: least loaded"


# --- nobody can take it ------------------------------------------------------------------------
def test_without_an_available_agent_the_team_owns_the_customer_and_the_unassigned_clock_starts():
    # given a team whose only agent is off shift
    away = make_agent(teams=["success"], available=False)
    customer = _customer()
    # when the customer is routed into it
    handoff = _route(customer)
    # then the team owns it without an agent, and unassigned_customer is open with the evidence
    assert _owner(customer) == ("success", None)
    assert handoff.detail["skipped"] == {str(away.pk): "off shift"}
    exception = _unassigned(customer).get()
    assert exception.status == "open" and exception.customer == customer and exception.due_at
    assert exception.evidence["team"] == "success" and exception.evidence["skipped"] == {str(away.pk): "off shift"}
    # and routing again while nobody is free refreshes that exception instead of opening another
    seen = exception.occurrences
    assert _route(customer, stage=Stage.ACTIVE) is None
    assert _unassigned(customer).get().occurrences == seen + 1


def test_a_later_routing_that_finds_an_agent_resolves_the_unassigned_exception():
    customer = _customer()
    _route(customer)
    assert _unassigned(customer).get().status == "open"
    agent = make_agent(teams=["success"])
    handoff = _route(customer, stage=Stage.ACTIVE)  # same team, still no agent: routing tries again
    assert handoff.to_agent == agent
    exception = _unassigned(customer).get()
    assert exception.status == "resolved" and str(agent) in exception.resolution_reason


def test_a_managers_assignment_resolves_the_unassigned_exception_too():
    customer = _customer()
    _route(customer)
    agent = make_agent(teams=["success"])
    manager = make_user(group="Manager")
    owner_reassign(customer=customer, team=team("success"), agent=agent, reason="I know them",
                   actor=Actor.for_user(manager))
    exception = _unassigned(customer).get()
    assert exception.status == "resolved" and "I know them" in exception.resolution_reason


def test_a_stage_move_inside_the_team_keeps_the_assigned_agent():
    agent = make_agent(teams=["success"])
    customer = _customer()
    assert _route(customer).to_agent == agent
    make_agent(teams=["success"])  # now less loaded than `agent`
    assert _route(customer, stage=Stage.ACTIVE) is None
    assert _owner(customer) == ("success", agent)


# --- speed -------------------------------------------------------------------------------------
def test_the_decision_reads_the_same_number_of_queries_whatever_the_team_size():

    def queries_to_route():
        customer = _customer()
        with CaptureQueriesContext(connection) as context:
            assert _route(customer).to_agent is not None
        return len(context)

    # given a team of 2 busy agents, then the same team grown to 40
    for _ in range(2):
        _load(make_agent(teams=["success"]), customers=1, exceptions=1)
    # (cached configuration loaded afresh first: one expiring between the two counts would add a read)
    routing_selectors._config.clear()
    sla_service._cache.clear()
    queries_to_route()
    small = queries_to_route()
    for _ in range(38):
        _load(make_agent(teams=["success"]), customers=1, exceptions=1)
    # then routing reads the loads of every agent in one query: the count does not grow
    assert queries_to_route() == small
    assert small <= 26  # savepoints included; the handoff and the resolved unassigned exception write 8
