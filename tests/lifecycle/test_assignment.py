"""The assignment loop end to end: agents at capacity, customers wait claimable in their team's
queue, an agent claims one (a handoff, and the clock resolves in the same transaction), room
appearing routes the oldest waiting customer, a manager closes the clock only by choosing the agent.

Runs on every database; the races and the end-to-end test need PostgreSQL (CI runs them there).
"""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import (
    ExceptionCase,
    ExceptionKind,
    Handoff,
    Ownership,
    TimelineEvent,
)
from lifecycle.selectors.queues import waiting_customers
from lifecycle.selectors.visibility import exceptions_visible_to
from lifecycle.services.agents import agent_set_availability
from lifecycle.services.assignment import customer_claim, waiting_route
from lifecycle.services.errors import InvalidOwner, PermissionDenied, ServiceError
from lifecycle.services.ownership import ownership_transfer, unassigned_subject
from lifecycle.services.queues import claim_next, exception_assign, exception_close
from lifecycle.services.sla import sla_sweep
from lifecycle.tasks import route_waiting_customers
from tests.concurrency import race
from tests.factories import make_agent, make_owned_customer, make_user, team

pytestmark = pytest.mark.django_db
UNASSIGNED = ExceptionKind.UNASSIGNED_CUSTOMER
TASK = Actor.task("tests")


def _paid(n):
    """n customers who paid (onboarding, owned by Success), oldest first."""
    return [make_owned_customer(paid=True) for _ in range(n)]


def _owner(customer):
    return Ownership.objects.select_related("agent", "team").get(customer=customer)


def _clock(customer):
    return ExceptionCase.objects.get(kind=UNASSIGNED, subject_key=unassigned_subject(customer.pk))


def _manager():
    return Actor.for_user(make_user(group="Manager"))


@pytest.fixture
def full_success():
    """Success has one agent, at capacity with one customer; two more customers wait."""
    amira = make_agent(teams=["success"], capacity=1)
    held, *waiting = _paid(3)
    return amira, held, waiting


def test_customers_the_team_cannot_take_wait_in_its_queue_visible_to_its_agents(full_success):
    amira, held, waiting = full_success
    assert _owner(held).agent == amira
    for customer in waiting:
        owner, clock = _owner(customer), _clock(customer)
        assert (owner.team.slug, owner.agent) == ("success", None)
        assert clock.status == "open" and clock.queue == team("success"), "the team's queue, not the managers'"
    # the team's agents see the clocks (and nobody in another team does)
    colleague = make_agent(teams=["success"])
    outsider = make_agent(teams=["marketing"])
    clocks = ExceptionCase.objects.filter(kind=UNASSIGNED)
    assert exceptions_visible_to(colleague.user, clocks).count() == 2
    assert exceptions_visible_to(outsider.user, clocks).count() == 0
    assert [c.pk for c in waiting_customers([team("success").pk])] == [c.pk for c in waiting]


def test_claim_next_gives_the_oldest_waiting_customer_with_a_handoff_and_resolves_its_clock(full_success):
    _, _, (oldest, newer) = full_success
    bruno = make_agent(teams=["success"], capacity=0)  # claiming is a choice: capacity limits routing only
    actor = Actor.for_user(bruno.user)

    claimed = claim_next(actor=actor)

    assert claimed.customer.pk == oldest.pk and claimed.exception is None
    assert _owner(oldest).agent == bruno and _owner(newer).agent is None
    handoff = Handoff.objects.filter(customer=oldest).latest("created_at")
    assert (handoff.rule, handoff.to_agent, handoff.actor_user) == ("claim", bruno, bruno.user)
    clock = _clock(oldest)
    assert clock.status == "resolved" and str(bruno) in clock.resolution_reason
    resolved = TimelineEvent.objects.get(customer=oldest, kind="exception_resolved")
    assert resolved.actor_user == bruno.user, "the timeline names the person who acted"


def test_an_agent_of_another_team_cannot_claim_and_is_told_whom_to_ask(full_success):
    _, _, (waiting, _) = full_success
    success = team("success")
    success.manager = make_user("maren", first_name="Maren", last_name="Holt")
    success.save()
    outsider = make_agent(teams=["marketing"])
    with pytest.raises(PermissionDenied, match="only its agents claim it.*Maren Holt"):
        customer_claim(customer=waiting, actor=Actor.for_user(outsider.user))
    assert _owner(waiting).agent is None


def test_claim_next_takes_an_exception_when_it_is_due_before_the_oldest_waiting_customer(full_success):
    _, held, (waiting, _) = full_success
    bruno = make_agent(teams=["success"])
    urgent, _ = ExceptionCase.objects.get_or_create(
        kind=ExceptionKind.AT_RISK, subject_key=f"customer:{held.pk}", customer=held, queue=team("success"),
        defaults={"summary": "refund", "due_at": _clock(waiting).due_at - timedelta(minutes=5)})
    claimed = claim_next(actor=Actor.for_user(bruno.user))
    assert claimed.exception.pk == urgent.pk and claimed.customer is None
    assert claim_next(actor=Actor.for_user(bruno.user)).customer.pk == waiting.pk


def test_room_appearing_routes_the_oldest_waiting_customer_first(full_success):
    amira, _, (oldest, newer) = full_success
    amira.capacity = 2
    amira.save()

    handoffs = waiting_route(team_ids=[team("success").pk], actor=TASK)

    assert [h.customer_id for h in handoffs] == [oldest.pk]
    assert _owner(oldest).agent == amira and _owner(newer).agent is None
    assert _clock(oldest).status == "resolved" and _clock(newer).status == "open"
    assert handoffs[0].actor_ref == "tests" and "oldest waiting first" in handoffs[0].reason
    assert waiting_route(team_ids=[team("success").pk], actor=TASK) == [], "no room left: nothing moves"


def test_an_agent_coming_on_shift_takes_waiting_customers_through_the_queued_task(
        full_success, django_capture_on_commit_callbacks):
    _, _, waiting = full_success
    hana = make_agent(teams=["success"], capacity=5, available=False)
    with django_capture_on_commit_callbacks() as queued:
        agent_set_availability(agent=hana, available=True, actor=Actor.for_user(hana.user))
    assert len(queued) == 1, "the routing is queued for after the change commits"
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True  # run the queued task here instead of on a worker
    try:
        queued[0]()
    finally:
        current_app.conf.task_always_eager = eager
    assert [_owner(c).agent for c in waiting] == [hana, hana]


def test_the_beat_task_routes_every_team_with_waiting_customers(full_success):
    amira, _, waiting = full_success
    make_agent(teams=["success"], capacity=1)
    assert route_waiting_customers() == 1  # one agent with room for one
    assert sum(_owner(c).agent is not None for c in waiting) == 1


def test_a_manager_closes_the_clock_only_by_choosing_the_agent(full_success):
    amira, _, (waiting, other) = full_success
    manager = _manager()
    clock = _clock(waiting)
    with pytest.raises(ServiceError, match="Choose the agent"):
        exception_close(exception=clock, actor=manager, reason="handled")
    assert _clock(waiting).status == "open" and _owner(waiting).agent is None

    exception_close(exception=clock, actor=manager, reason="Amira knows them", agent=amira)
    assert _owner(waiting).agent == amira, "a manager may load an agent past capacity"
    assert _clock(waiting).status == "resolved" and "Amira knows them" in _clock(waiting).resolution_reason
    handoff = Handoff.objects.filter(customer=waiting).latest("created_at")
    assert handoff.actor_user == manager.user and handoff.rule == "manual"

    outsider = make_agent(teams=["marketing"])
    with pytest.raises(InvalidOwner, match="not in Success"):
        exception_assign(exception=_clock(other), agent=outsider, actor=manager)
    exception_assign(exception=_clock(other), agent=amira, actor=manager)
    assert _owner(other).agent == amira and _clock(other).status == "resolved"


def test_an_agent_cannot_resolve_the_clock_but_claims_the_customer(full_success):
    _, _, (waiting, _) = full_success
    bruno = make_agent(teams=["success"])
    with pytest.raises(PermissionDenied, match="Claim the customer"):
        exception_close(exception=_clock(waiting), actor=Actor.for_user(bruno.user), reason="done")
    assert _owner(waiting).agent is None


def test_dismissing_needs_a_reason_and_leaves_the_customer_waiting_and_claimable(full_success):
    _, _, (waiting, newer) = full_success
    manager = _manager()
    with pytest.raises(ServiceError, match="Say why"):
        exception_close(exception=_clock(waiting), actor=manager, reason=" ", dismiss=True)
    exception_close(exception=_clock(waiting), actor=manager, reason="VIP handled by phone", dismiss=True)
    assert _clock(waiting).status == "dismissed" and _owner(waiting).agent is None
    # still in the team's waiting line: after the customers whose clock runs
    assert [c.pk for c in waiting_customers([team("success").pk])] == [newer.pk, waiting.pk]
    bruno = make_agent(teams=["success"])
    claim_next(actor=Actor.for_user(bruno.user))
    assert claim_next(actor=Actor.for_user(bruno.user)).customer.pk == waiting.pk


def test_on_breach_the_clock_escalates_to_the_managers_and_the_customer_stays_claimable(full_success):
    _, _, (waiting, _) = full_success
    ExceptionCase.objects.filter(pk=_clock(waiting).pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert sla_sweep() == 1
    clock = _clock(waiting)
    assert clock.queue is None and clock.escalated_from == team("success") and clock.breached_at
    bruno = make_agent(teams=["success"])
    assert claim_next(actor=Actor.for_user(bruno.user)).customer.pk == waiting.pk
    assert _clock(waiting).status == "resolved"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_loop_end_to_end_on_postgresql(full_success):
    """At capacity → waiting and claimable → two agents claim at once (different customers) → room
    frees and the beat routes the rest, oldest first → nobody waits."""
    amira, held, waiting = full_success
    waiting += _paid(3)  # five wait now
    bruno, chen = make_agent(teams=["success"], capacity=1), make_agent(teams=["success"], capacity=1)
    actors = [Actor.for_user(bruno.user), Actor.for_user(chen.user)]
    claimed, _ = race(2, lambda i: claim_next(actor=actors[i]).customer)
    assert {c.pk for c in claimed} == {waiting[0].pk, waiting[1].pk}, claimed
    # amira's held customer churns to Marketing: her load falls, and so does the room of the rest
    amira.capacity, bruno.capacity = 3, 2
    amira.save()
    bruno.save()
    assert route_waiting_customers() == 3
    assert Ownership.objects.filter(team__slug="success", agent__isnull=True).count() == 0
    assert ExceptionCase.objects.filter(kind=UNASSIGNED, status__in=["open", "in_progress"]).count() == 0
    for customer in waiting:
        handoffs = Handoff.objects.filter(customer=customer, to_agent__isnull=False)
        assert handoffs.count() == 1, "every customer reached an agent through exactly one handoff"
        assert handoffs.get().actor_ref in {"route_waiting_customers", bruno.user.username, chen.user.username}


def test_a_sticky_team_gives_a_waiting_customer_back_to_its_previous_agent():
    success = team("success")
    success.routing_mode = "sticky"
    success.save()
    bruno = make_agent(teams=["success"], capacity=3)
    _, customer = _paid(2)  # both Bruno's: he is the team's only agent
    amira = make_agent(teams=["success"], capacity=5)
    assert _owner(customer).agent == bruno
    ownership_transfer(customer=customer, team=success, agent=None, reason="Bruno went on leave", actor=TASK)
    assert _owner(customer).agent is None
    waiting_route(team_ids=[success.pk], actor=TASK)
    assert _owner(customer).agent == bruno, "his former customer, though Amira is less loaded"
    success.routing_mode = "least_loaded"
    success.save()
    ownership_transfer(customer=customer, team=success, agent=None, reason="Bruno went on leave", actor=TASK)
    waiting_route(team_ids=[success.pk], actor=TASK)
    assert _owner(customer).agent == amira, "least loaded: Amira (0 of 5) before Bruno (1 of 3)"
