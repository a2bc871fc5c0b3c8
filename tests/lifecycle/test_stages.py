"""The lifecycle stage graph: allowed moves work and hand off; forbidden ones raise; backward needs a manager."""

import pytest

from lifecycle.actors import Actor
from lifecycle.models import STAGE_TRANSITIONS, Customer, Handoff, Ownership, Stage, TimelineEvent
from lifecycle.services.errors import PermissionDenied, StageMoveRefused
from lifecycle.services.stages import customer_move_stage
from lifecycle.defaults import STAGE_TEAMS
from lifecycle.services.ownership import ownership_transfer
from tests.factories import SYSTEM, make_customer, team

pytestmark = pytest.mark.django_db

ALL_STAGES = [s.value for s in Stage]


def _customer_in(stage, *, team_slug=None):
    customer = make_customer()
    if team_slug:  # an owner, so that agents of that team may act on it
        ownership_transfer(customer=customer, team=team(team_slug), reason="Arrange", actor=SYSTEM)
    Customer.objects.filter(pk=customer.pk).update(stage=stage)  # arrange only: place it in the stage
    customer.refresh_from_db()
    return customer


def _all_sources(name):
    field = Customer._meta.get_field("stage")
    return {t.source for t in field.get_all_transitions(Customer) if t.name == name}


def test_graph_has_the_domain_stages_and_both_directions():
    assert set(ALL_STAGES) == {"prospect", "purchased", "onboarding", "active", "at_risk", "loyal", "churned"}
    assert any(t.custom["backward"] for t in STAGE_TRANSITIONS.values())


@pytest.mark.parametrize("name", sorted(STAGE_TRANSITIONS))
def test_every_allowed_move_works_and_hands_off_to_the_stage_team(name, manager):
    actor = Actor.for_user(manager)
    for source in sorted(_all_sources(name)):
        customer = _customer_in(source)
        customer_move_stage(customer=customer, transition=name, actor=actor, reason="test")
        customer.refresh_from_db()
        target = STAGE_TRANSITIONS[name].target
        assert customer.stage == target
        assert Ownership.objects.get(customer=customer).team.slug == STAGE_TEAMS[target]
        assert TimelineEvent.objects.filter(customer=customer, kind="stage_changed").count() == 1


@pytest.mark.parametrize("name", sorted(STAGE_TRANSITIONS))
def test_every_forbidden_move_raises_and_changes_nothing(name, manager):
    for source in sorted(set(ALL_STAGES) - _all_sources(name)):
        customer = _customer_in(source)
        with pytest.raises(StageMoveRefused, match="not possible"):
            customer_move_stage(customer=customer, transition=name, actor=Actor.for_user(manager), reason="x")
        customer.refresh_from_db()
        assert customer.stage == source
        assert not TimelineEvent.objects.filter(customer=customer, kind="stage_changed").exists()


def test_backward_move_without_manager_permission_is_refused(support_agent):
    customer = _customer_in(Stage.ACTIVE)
    with pytest.raises(PermissionDenied, match="manager"):
        customer_move_stage(customer=customer, transition="back_to_onboarding", actor=Actor.for_user(support_agent),
                            reason="customer asked")
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE


def test_backward_move_by_rule_is_refused_even_with_a_reason():
    customer = _customer_in(Stage.ACTIVE)
    with pytest.raises(PermissionDenied):
        customer_move_stage(customer=customer, transition="back_to_onboarding", actor=SYSTEM, reason="sweep")


def test_backward_move_needs_a_reason(manager):
    customer = _customer_in(Stage.ACTIVE)
    with pytest.raises(StageMoveRefused, match="reason"):
        customer_move_stage(customer=customer, transition="back_to_onboarding", actor=Actor.for_user(manager))


def test_manager_moves_backward_with_reason_recorded_on_timeline_and_handoff(manager):
    customer = _customer_in(Stage.LOYAL)
    customer_move_stage(customer=customer, transition="back_to_active", actor=Actor.for_user(manager),
                        reason="loyalty flag was premature")
    event = TimelineEvent.objects.get(customer=customer, kind="stage_changed")
    assert event.data["reason"] == "loyalty flag was premature" and event.actor_user == manager
    handoff = Handoff.objects.get(customer=customer)
    assert handoff.reason == "loyalty flag was premature"
    assert handoff.to_team.slug == "success"


def test_agent_moves_forward(support_agent):
    customer = _customer_in(Stage.ONBOARDING, team_slug="success")
    customer_move_stage(customer=customer, transition="activate", actor=Actor.for_user(support_agent))
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE


def test_stage_field_cannot_be_assigned_directly():
    customer = make_customer()
    with pytest.raises(AttributeError):
        customer.stage = Stage.LOYAL


def test_move_within_the_same_team_keeps_the_owner_and_writes_no_handoff(manager):
    customer = _customer_in(Stage.ONBOARDING)
    customer_move_stage(customer=customer, transition="flag_at_risk", actor=Actor.for_user(manager))
    handoffs = Handoff.objects.filter(customer=customer).count()
    customer_move_stage(customer=customer, transition="activate", actor=Actor.for_user(manager))  # success → success
    assert Handoff.objects.filter(customer=customer).count() == handoffs


def test_an_agent_cannot_move_a_customer_of_another_team(support_agent):
    # given a customer owned by marketing, a team the agent is not in
    customer = _customer_in(Stage.ONBOARDING, team_slug="marketing")
    # when the agent tries a forward move, then it is refused and nothing changes
    with pytest.raises(PermissionDenied, match="your own teams"):
        customer_move_stage(customer=customer, transition="activate", actor=Actor.for_user(support_agent))
    customer.refresh_from_db()
    assert customer.stage == Stage.ONBOARDING
