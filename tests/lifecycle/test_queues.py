"""Working the queues: claim next, release, resolve, dismiss, assign, reassign, rebalance — and who may."""

import pytest

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, Ownership, TimelineEvent
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import (
    NothingToClaim,
    claim_next,
    exception_assign,
    exception_claim,
    exception_close,
    exception_release,
    exceptions_reassign,
    queue_rebalance,
)
from tests.factories import SYSTEM, make_agent, make_owned_customer, make_user, team
from tests.concurrency import race

pytestmark = pytest.mark.django_db
K = ExceptionKind


def _in_queue(slug, n=1, kind=K.PAYMENT_PROBLEM):
    """n open exceptions in team `slug`'s queue, oldest first."""
    made = []
    for _ in range(n):
        customer = make_owned_customer()
        exception, _ = exception_raise(kind=kind, subject_key=f"customer:{customer.pk}", summary="card declined",
                                       customer=customer, actor=SYSTEM)
        ExceptionCase.objects.filter(pk=exception.pk).update(queue=team(slug))  # arrange: this team's queue
        exception.refresh_from_db()
        made.append(exception)
    return made


def _agent(slug, **extra):
    agent = make_agent(teams=[slug], **extra)
    return agent, Actor.for_user(agent.user)


def test_claim_next_gives_the_oldest_item_of_my_teams_and_never_another_teams():
    make_agent(teams=["commerce"], capacity=100)  # owns the customers: none waits for an agent
    mine = _in_queue("commerce", 2)
    _in_queue("marketing", 1)
    agent, actor = _agent("commerce")
    first = claim_next(actor=actor).exception
    second = claim_next(actor=actor).exception
    assert [first.pk, second.pk] == [e.pk for e in mine]
    assert first.status == "in_progress" and first.assignee == agent and first.claimed_at
    with pytest.raises(NothingToClaim):
        claim_next(actor=actor)  # marketing's item is not mine


def test_claiming_is_on_the_customer_timeline():
    item, = _in_queue("commerce")
    _, actor = _agent("commerce")
    exception_claim(exception=item, actor=actor)
    assert TimelineEvent.objects.filter(customer=item.customer, kind="exception_claimed").exists()


def test_an_agent_cannot_claim_from_another_teams_queue():
    item, = _in_queue("marketing")
    _, actor = _agent("commerce")
    with pytest.raises(PermissionDenied, match="your own teams"):
        exception_claim(exception=item, actor=actor)
    item.refresh_from_db()
    assert item.status == "open" and item.assignee is None


def test_a_user_without_an_agent_profile_is_told_why():
    item, = _in_queue("commerce")
    with pytest.raises(PermissionDenied, match="no agent profile"):
        exception_claim(exception=item, actor=Actor.for_user(make_user(group="Support agent")))


def test_release_puts_it_back_unassigned():
    item, = _in_queue("commerce")
    _, actor = _agent("commerce")
    exception_claim(exception=item, actor=actor)
    released = exception_release(exception=item, actor=actor)
    assert (released.status, released.assignee) == ("open", None)


def test_resolve_needs_a_reason_and_a_member_of_the_queue():
    item, = _in_queue("commerce")
    _, outsider = _agent("marketing")
    _, member = _agent("commerce")
    with pytest.raises(ServiceError, match="reason"):
        exception_close(exception=item, actor=member, reason=" ")
    with pytest.raises(PermissionDenied):
        exception_close(exception=item, actor=outsider, reason="fixed")
    closed = exception_close(exception=item, actor=member, reason="customer paid by transfer")
    assert (closed.status, closed.resolution_reason) == ("resolved", "customer paid by transfer")
    with pytest.raises(ServiceError, match="resolved"):
        exception_close(exception=item, actor=member, reason="again")


def test_only_managers_dismiss(manager):
    item, = _in_queue("commerce")
    _, member = _agent("commerce")
    with pytest.raises(PermissionDenied, match="managers"):
        exception_close(exception=item, actor=member, reason="noise", dismiss=True)
    dismissed = exception_close(exception=item, actor=Actor.for_user(manager), reason="test order", dismiss=True)
    assert dismissed.status == "dismissed"


def test_only_managers_assign_and_only_to_the_queue_team(manager):
    item, = _in_queue("commerce")
    member, member_actor = _agent("commerce")
    outsider, _ = _agent("marketing")
    with pytest.raises(PermissionDenied, match="managers"):
        exception_assign(exception=item, agent=member, actor=member_actor)
    with pytest.raises(ServiceError, match="not in the Commerce team"):
        exception_assign(exception=item, agent=outsider, actor=Actor.for_user(manager))
    assigned = exception_assign(exception=item, agent=member, actor=Actor.for_user(manager))
    assert (assigned.assignee, assigned.status) == (member, "in_progress")


def test_bulk_reassign_reports_what_it_refused(manager):
    items = _in_queue("commerce", 2) + _in_queue("marketing", 1)
    member, _ = _agent("commerce")
    assigned, refused = exceptions_reassign(exceptions=items, agent=member, actor=Actor.for_user(manager))
    assert len(assigned) == 2 and list(refused) == [items[2].pk]


def test_rebalance_spreads_the_queue_over_available_agents(manager):
    items = _in_queue("commerce", 7)
    a, _ = _agent("commerce")
    b, _ = _agent("commerce")
    away, _ = _agent("commerce", available=False)
    exception_assign(exception=items[0], agent=away, actor=Actor.for_user(manager))
    queue_rebalance(team=team("commerce"), actor=Actor.for_user(manager))
    counts = {agent: ExceptionCase.objects.filter(assignee=agent).count() for agent in (a, b, away)}
    assert counts[away] == 0 and sorted([counts[a], counts[b]]) == [3, 4]


def test_agents_cannot_rebalance(support_agent):
    with pytest.raises(PermissionDenied):
        queue_rebalance(team=team("commerce"), actor=Actor.for_user(support_agent))


def test_claiming_an_unassigned_customer_makes_the_claimer_its_agent():
    item, = _in_queue("commerce", kind=K.UNASSIGNED_CUSTOMER)
    agent, actor = _agent("commerce")
    exception_claim(exception=item, actor=actor)
    assert Ownership.objects.get(customer=item.customer).agent == agent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_claiming_next_at_once_get_different_items():
    make_agent(teams=["commerce"], capacity=100)  # owns the customers: none waits for an agent
    _in_queue("commerce", 2)
    actors = [_agent("commerce")[1] for _ in range(2)]
    results, _ = race(2, lambda i: claim_next(actor=actors[i]).exception)
    assert all(isinstance(r, ExceptionCase) for r in results), results
    assert results[0].pk != results[1].pk
