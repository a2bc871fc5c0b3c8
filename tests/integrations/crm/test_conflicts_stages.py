"""Lifecycle stage edits in the CRM follow the connection's policy, as owners do: a conflict (console is
truth) pushed back once resolved, or the stage's forward move (accept CRM handoffs); a backward move
needs a manager, so it is a conflict under either policy."""

import pytest

from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import Customer, ExceptionCase, Ownership, TimelineEvent
from lifecycle.services.queues import exception_close
from lifecycle.services.stages import customer_move_stage
from tests.integrations.crm.inbound_support import (  # noqa: F401 (fixtures)
    SYSTEM,
    adapter,
    agents,
    clock,
    connection,
    deliver,
    owned_customer,
    pull,
    sandbox,
)

pytestmark = pytest.mark.django_db
EMAIL = "ann@example.com"


def stage_conflict(customer):
    return ExceptionCase.objects.filter(kind="ownership_conflict", customer=customer,
                                        subject_key__contains="/stage/").first()


def crm_edits_stage(sandbox, value):
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"lifecyclestage": value})


@pytest.fixture
def ann(connection, adapter, agents):
    """Ann, onboarding (HubSpot's "customer"), delivered to the CRM."""
    customer = owned_customer(agents[0][0], EMAIL)
    assert customer.stage == "onboarding"
    deliver(connection, adapter)
    return customer


def test_console_is_truth_keeps_the_stage_and_opens_a_conflict(connection, adapter, sandbox, ann):
    crm_edits_stage(sandbox, "evangelist")

    pull(connection, adapter)

    case = stage_conflict(ann)
    assert case.status == "open" and Customer.objects.get(pk=ann.pk).stage == "onboarding"
    assert (case.evidence["console"]["stage"], case.evidence["crm"]["stage"]) == ("onboarding", "evangelist")
    assert case.evidence["crm"]["name"] == "Evangelist" and case.evidence["crm"]["set_at"]


def test_resolving_a_stage_conflict_pushes_the_consoles_stage_back_in_two_steps(connection, adapter, sandbox, ann,
                                                                               manager):
    # given: HubSpot says evangelist, later than the console's "customer" in the account's order
    crm_edits_stage(sandbox, "evangelist")
    pull(connection, adapter)

    # when: a manager resolves the conflict, and the outbox delivers
    exception_close(exception=stage_conflict(ann), actor=Actor.for_user(manager), reason="still onboarding")
    message = OutboundMessage.objects.get(customer=ann, field="stage", state="pending")
    deliver(connection, adapter)

    # then: the console's stage went back as a backward move (HubSpot ignores one sent plainly)
    assert message.value == {"stage": "onboarding", "backward": True}
    assert sandbox.contact(EMAIL)["lifecyclestage"] == "customer"


def test_accepting_the_crm_moves_the_stage_forward_and_hands_over_to_its_team(connection, adapter, sandbox, agents,
                                                                             ann):
    # given: Ann is active; the connection accepts the CRM's changes; HubSpot makes her an evangelist
    customer_move_stage(customer=ann, transition="activate", actor=SYSTEM)
    CrmConnection.objects.filter(pk=connection.pk).update(conflict_policy="accept_crm_handoffs")
    crm_edits_stage(sandbox, "evangelist")

    # when: the pull reads it
    report = pull(connection, adapter)

    # then: she is loyal, owned by the loyal stage's team, moved by the CRM; no conflict
    assert report.moves == 1 and Customer.objects.get(pk=ann.pk).stage == "loyal"
    assert Ownership.objects.get(customer=ann).team.slug == "marketing"
    event = TimelineEvent.objects.filter(customer=ann, kind="stage_changed").latest("occurred_at")
    assert event.data["to"] == "loyal" and event.actor_ref == "HubSpot (CRM pull)"
    assert stage_conflict(ann) is None


def test_a_backward_stage_from_the_crm_is_a_conflict_even_when_accepting(connection, adapter, sandbox, ann):
    CrmConnection.objects.filter(pk=connection.pk).update(conflict_policy="accept_crm_handoffs")
    crm_edits_stage(sandbox, "opportunity")  # the console's purchased: before onboarding

    pull(connection, adapter)

    case = stage_conflict(ann)
    assert case.status == "open" and "needs a manager" in case.evidence["why"]
    assert Customer.objects.get(pk=ann.pk).stage == "onboarding"


def test_a_stage_the_console_maps_from_several_is_no_claim_when_it_agrees(connection, adapter, sandbox, ann):
    # given: Ann is active; HubSpot's "customer" is onboarding, active and at risk to the console
    customer_move_stage(customer=ann, transition="activate", actor=SYSTEM)
    crm_edits_stage(sandbox, "lead")
    crm_edits_stage(sandbox, "customer")

    pull(connection, adapter)

    assert stage_conflict(ann) is None
