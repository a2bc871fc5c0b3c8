"""Invariant 1 (one owner, enforced by the database) and 2 (every change is one handoff)."""

from unittest import mock

import pytest
from django.db import IntegrityError, transaction

from lifecycle.actors import Actor
from lifecycle.models import Handoff, Ownership, TimelineEvent
from lifecycle.models.base import AppendOnlyError
from lifecycle.services.errors import InvalidOwner, OwnershipChanged, PermissionDenied
from lifecycle.services.ownership import owner_reassign, ownership_transfer
from tests.concurrency import race
from tests.factories import SYSTEM, make_agent, make_customer, make_owned_customer, team

pytestmark = pytest.mark.django_db


def test_a_second_owner_row_is_refused_by_the_database():
    # given a customer with an owner
    customer = make_owned_customer()
    # when a second current owner is inserted directly, around the services
    with pytest.raises(IntegrityError), transaction.atomic():
        Ownership.objects.create(customer=customer, team=team("support"))
    # then the customer still has exactly one owner
    assert Ownership.objects.filter(customer=customer).count() == 1


def test_first_order_gives_the_customer_an_owner_recorded_as_a_handoff():
    customer = make_owned_customer()
    owner = Ownership.objects.get(customer=customer)
    assert owner.team.slug == "commerce"  # purchased, unpaid → commerce
    handoff = Handoff.objects.get(customer=customer)
    assert (handoff.from_team, handoff.to_team) == (None, owner.team)
    assert owner.last_handoff == handoff


def test_each_ownership_change_writes_one_handoff_and_one_timeline_event():
    customer = make_owned_customer()
    agent = make_agent(teams=["support"])
    handoffs, events = Handoff.objects.count(), TimelineEvent.objects.filter(kind="handoff").count()

    handoff = ownership_transfer(customer=customer, team=team("support"), agent=agent, reason="escalated", actor=SYSTEM)

    assert Handoff.objects.count() == handoffs + 1
    assert TimelineEvent.objects.filter(kind="handoff").count() == events + 1
    assert (handoff.from_team.slug, handoff.to_team.slug, handoff.to_agent) == ("commerce", "support", agent)
    owner = Ownership.objects.get(customer=customer)
    assert (owner.team.slug, owner.agent) == ("support", agent)


def test_a_handoff_to_the_current_owner_writes_nothing():
    customer = make_owned_customer()
    before = Handoff.objects.count()
    assert ownership_transfer(customer=customer, team=team("commerce"), reason="again", actor=SYSTEM) is None
    assert Handoff.objects.count() == before


def test_a_failure_after_the_change_leaves_neither_handoff_nor_event_nor_new_owner():
    customer = make_owned_customer()
    handoffs, events = Handoff.objects.count(), TimelineEvent.objects.count()
    agent = make_agent(teams=["support"])
    # The last step of a handoff that gives an agent: everything before it is written by then.
    with mock.patch("lifecycle.services.ownership.exceptions_resolve", side_effect=RuntimeError("disk full")):
        with pytest.raises(RuntimeError):
            ownership_transfer(customer=customer, team=team("support"), agent=agent, reason="x", actor=SYSTEM)
    assert Handoff.objects.count() == handoffs
    assert TimelineEvent.objects.count() == events
    assert Ownership.objects.get(customer=customer).team.slug == "commerce"


def test_stale_expectation_is_refused_and_changes_nothing():
    customer = make_owned_customer()
    seen = (team("commerce").pk, None)
    ownership_transfer(customer=customer, team=team("support"), reason="first", actor=SYSTEM, expected=seen)
    with pytest.raises(OwnershipChanged, match="changed while you were looking"):
        ownership_transfer(customer=customer, team=team("sales"), reason="second", actor=SYSTEM, expected=seen)
    assert Ownership.objects.get(customer=customer).team.slug == "support"


def test_agent_must_belong_to_the_team_and_be_active():
    customer = make_owned_customer()
    outsider = make_agent(teams=["marketing"])
    with pytest.raises(InvalidOwner, match="not a member"):
        ownership_transfer(customer=customer, team=team("support"), agent=outsider, reason="x", actor=SYSTEM)
    inactive = make_agent(teams=["support"])
    inactive.user.is_active = False
    inactive.user.save()
    with pytest.raises(InvalidOwner, match="deactivated"):
        ownership_transfer(customer=customer, team=team("support"), agent=inactive, reason="x", actor=SYSTEM)


def test_only_managers_reassign_and_always_with_a_reason(manager, support_agent):
    customer = make_owned_customer()
    with pytest.raises(PermissionDenied):
        owner_reassign(customer=customer, team=team("support"), reason="mine", actor=Actor.for_user(support_agent))
    with pytest.raises(InvalidOwner, match="reason"):
        owner_reassign(customer=customer, team=team("support"), reason="  ", actor=Actor.for_user(manager))
    handoff = owner_reassign(customer=customer, team=team("support"), reason="VIP", actor=Actor.for_user(manager))
    assert (handoff.actor_user, handoff.reason, handoff.rule) == (manager, "VIP", "manual")


def test_handoffs_are_append_only():
    customer = make_owned_customer()
    handoff = Handoff.objects.get(customer=customer)
    handoff.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        handoff.save()
    with pytest.raises(AppendOnlyError):
        Handoff.objects.filter(pk=handoff.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        handoff.delete()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_handoffs_of_one_customer_end_with_one_owner_and_one_loser():
    # given a customer owned by commerce, and two managers who both saw that owner
    customer = make_owned_customer()
    seen = (team("commerce").pk, None)
    targets = [team("support"), team("sales")]
    handoffs_before = Handoff.objects.filter(customer=customer).count()

    # when both hand it off at the same instant on two connections
    results, _ = race(2, lambda i: ownership_transfer(
        customer=customer, team=targets[i], reason=f"race {i}", actor=SYSTEM, expected=seen))

    # then exactly one wins, the other gets a clear error, and there is one owner row
    winners = [r for r in results if isinstance(r, Handoff)]
    losers = [r for r in results if isinstance(r, OwnershipChanged)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert Ownership.objects.filter(customer=customer).count() == 1
    assert Ownership.objects.get(customer=customer).team == winners[0].to_team
    assert Handoff.objects.filter(customer=customer).count() == handoffs_before + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_owners_never_make_two_rows():
    customer = make_customer()  # no order yet: no owner
    targets = [team("commerce"), team("support"), team("sales"), team("success")]
    results, _ = race(4, lambda i: ownership_transfer(
        customer=customer, team=targets[i], reason="first", actor=SYSTEM, expected=None))
    assert sum(isinstance(r, Handoff) for r in results) == 1, results
    assert sum(isinstance(r, OwnershipChanged) for r in results) == 3, results
    assert Ownership.objects.filter(customer=customer).count() == 1
    assert Handoff.objects.filter(customer=customer).count() == 1
