"""When the CRM names another owner than the console, through the real adapter and the sandbox: the
console's owner stays and a conflict names both sides (console is truth), or the CRM's handoff is
recorded as one (accept CRM handoffs); the console's own write coming back is no claim."""

import pytest

from integrations.crm.conflicts import claim
from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Handoff, Ownership, Team
from lifecycle.services.ownership import ownership_transfer
from lifecycle.services.queues import exception_close
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


def conflicts(customer):
    return list(ExceptionCase.objects.filter(kind="ownership_conflict", customer=customer).order_by("pk"))


def owner(customer):
    row = Ownership.objects.get(customer=customer)
    return row.team.slug, row.agent_id


@pytest.fixture
def ann(connection, adapter, agents):
    """Ann, owned by the first agent, as the CRM has her after the outbox delivered her."""
    customer = owned_customer(agents[0][0], EMAIL)
    assert deliver(connection, adapter).delivered
    return customer


def test_the_claim_of_a_crm_value_against_the_console():
    assert claim("", "41", "41") == "none"
    assert claim("41", "40", "41") == "agrees"
    assert claim("40", "40", "41") == "echo"  # what we sent last, before our newer change arrives
    assert claim("42", "40", "41") == "differs"


def test_console_is_truth_opens_one_conflict_naming_both_owners_and_keeps_the_console_owner(
        connection, adapter, sandbox, agents, ann):
    # given: someone in HubSpot gives Ann to the third owner
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})

    # when: the pull reads it (twice: the second read is the same claim)
    report = pull(connection, adapter)
    pull(connection, adapter)

    # then: one conflict with both owners named and dated; the console's owner is unchanged
    [case] = conflicts(ann)
    assert report.conflicts == 1 and case.status == "open" and case.subject_key.endswith(f"customer:{ann.pk}")
    console, crm = case.evidence["console"], case.evidence["crm"]
    assert (console["agent"], console["team"]) == ("Ana Souza", "Success") and console["since"]
    assert (crm["name"], crm["owner_id"], crm["agent"]) == ("Carla Reis", agents[2][1], "Carla Reis")
    assert crm["set_at"].startswith(sandbox.clock.now().isoformat()[:19])
    assert "Carla Reis" in case.summary and "Ana Souza" in case.summary
    assert owner(ann) == ("success", agents[0][0].pk)
    assert not Handoff.objects.filter(customer=ann, rule="crm_handoff").exists()


def test_a_manager_resolving_the_conflict_pushes_the_console_owner_back(connection, adapter, sandbox, agents, ann,
                                                                         manager):
    # given: an open conflict about Ann's owner
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})
    pull(connection, adapter)
    [case] = conflicts(ann)

    # when: a manager resolves it
    exception_close(exception=case, actor=Actor.for_user(manager), reason="Ana keeps Ann")

    # then: the console's owner is queued for the CRM and, delivered, HubSpot has Ana again
    pushed = OutboundMessage.objects.filter(customer=ann, field="owner", state="pending").get()
    assert pushed.value == {"team": Team.objects.get(slug="success").pk, "agent": agents[0][0].pk}
    deliver(connection, adapter)
    assert sandbox.contact(EMAIL)["hubspot_owner_id"] == agents[0][1]

    # when: the pull reads HubSpot agreeing again, then nothing reopens
    pull(connection, adapter)
    assert [c.status for c in conflicts(ann)] == ["resolved"]


def test_a_dismissed_conflict_is_not_reopened_by_the_same_claim(connection, adapter, sandbox, agents, ann, manager):
    # given: a conflict a manager dismissed (the CRM may keep its owner)
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})
    pull(connection, adapter)
    exception_close(exception=conflicts(ann)[0], actor=Actor.for_user(manager), reason="sales keeps it",
                    dismiss=True)
    assert not OutboundMessage.objects.filter(customer=ann, field="owner", state="pending").exists()

    # when: the contact changes for another reason, the same owner read again
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"phone": "+351 912 000 000"})
    pull(connection, adapter)

    # then: the same claim is no new conflict; a new owner is
    assert [c.status for c in conflicts(ann)] == ["dismissed"]
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[1][1]})
    pull(connection, adapter)
    assert [c.status for c in conflicts(ann)] == ["open"]


def test_the_conflict_resolves_itself_when_the_crm_goes_back(connection, adapter, sandbox, agents, ann):
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})
    pull(connection, adapter)
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[0][1]})

    pull(connection, adapter)

    [case] = conflicts(ann)
    assert case.status == "resolved" and "agree" in case.resolution_reason


def test_accept_crm_handoffs_records_the_crms_handoff_with_the_crm_as_actor(connection, adapter, sandbox, agents,
                                                                           ann):
    # given: the connection accepts the CRM's handoffs, and HubSpot gives Ann to the second owner
    CrmConnection.objects.filter(pk=connection.pk).update(conflict_policy="accept_crm_handoffs")
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[1][1]})

    # when: the pull reads it
    report = pull(connection, adapter)

    # then: Bruno owns Ann through one handoff whose actor is the CRM; one owner row, no conflict
    assert report.handoffs == 1 and owner(ann) == ("success", agents[1][0].pk)
    handoff = Handoff.objects.filter(customer=ann).latest("created_at")
    assert (handoff.rule, handoff.from_agent_id, handoff.to_agent_id) == ("crm_handoff", agents[0][0].pk,
                                                                          agents[1][0].pk)
    assert handoff.actor_ref == "HubSpot (CRM pull)" and "HubSpot named Bruno Lima" in handoff.reason
    assert Ownership.objects.filter(customer=ann).count() == 1 and conflicts(ann) == []


def test_an_owner_no_agent_is_linked_to_is_a_conflict_even_when_accepting(connection, adapter, sandbox, ann):
    CrmConnection.objects.filter(pk=connection.pk).update(conflict_policy="accept_crm_handoffs")
    stranger = sandbox.store.add_owner("sales.rep@elsewhere.example", "Sal", "Rep")
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": stranger["id"]})

    pull(connection, adapter)

    [case] = conflicts(ann)
    assert case.evidence["crm"]["name"] == f"HubSpot owner {stranger['id']}" and "No agent" in case.evidence["why"]


def test_the_echo_of_the_consoles_own_write_is_ignored(connection, adapter, sandbox, agents, ann):
    # given: the console hands Ann to Bruno; the change waits in the outbox, so HubSpot still has
    # Ana, the owner the console itself sent last, when the contact changes for another reason
    ownership_transfer(customer=ann, team=Team.objects.get(slug="success"), agent=agents[1][0], reason="rebalance",
                       actor=SYSTEM)
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"phone": "+351 912 000 000"})

    # when: the pull reads HubSpot's (older) owner
    report = pull(connection, adapter)

    # then: it is our own write, no claim: no conflict, Bruno keeps Ann (her order's deal, which the
    # console made, is its own write too)
    assert report.echoes == 2 and report.deals_observed == 0
    assert conflicts(ann) == [] and owner(ann) == ("success", agents[1][0].pk)

    # and: once delivered, HubSpot agrees with the console
    deliver(connection, adapter)
    pull(connection, adapter)
    assert conflicts(ann) == [] and sandbox.contact(EMAIL)["hubspot_owner_id"] == agents[1][1]


def test_the_conflict_resolves_itself_when_the_console_takes_the_crms_owner(connection, adapter, sandbox, agents,
                                                                           ann, manager):
    # given: an open conflict: HubSpot names Carla, the console Ana
    from lifecycle.services.ownership import owner_reassign

    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})
    pull(connection, adapter)

    # when: a manager gives Ann to Carla in the console, and the next pull runs (HubSpot unchanged)
    owner_reassign(customer=ann, team=Team.objects.get(slug="success"), agent=agents[2][0], reason="Carla knows her",
                   actor=Actor.for_user(manager))
    pull(connection, adapter)

    # then: the systems agree, so the conflict closed itself, saying why
    [case] = conflicts(ann)
    assert case.status == "resolved" and case.resolution_reason == "HubSpot and the console agree on the owner again."
