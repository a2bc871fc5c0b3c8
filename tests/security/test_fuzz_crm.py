"""Fuzzing the CRM mappers (issue 16, item 7): what HubSpot's webhook deliveries and pulls say is read
as facts or left for the pulls, never an error; a stored delivery of any events is processed or
ignored, never failed for a person to retry."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from integrations.crm import deals, inbound
from integrations.crm.base import Changed
from integrations.crm.models import CrmConnection, CrmContact, CrmContactState
from integrations.crm.webhooks import RESOURCE, SOURCE, facts_from_events, webhook_process
from integrations.models import InboundEvent
from tests.factories import make_customer
from tests.security.fuzz import HOSTILE_TEXT, JSON, NUMBERS, PURE, SCALARS, WITH_DATABASE, mostly, rolled_back

KNOWN_CONTACT = 101  # linked to a customer below: its changes reach the database
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)

# One event as HubSpot sends them (subscriptionType, objectId, propertyName, propertyValue, occurredAt):
# each field mostly plausible, sometimes anything at all, so that odd values reach the database.
EVENTS = st.lists(st.fixed_dictionaries({
    "eventId": st.one_of(st.integers(), HOSTILE_TEXT),
    "subscriptionType": mostly(st.sampled_from(["contact.propertyChange", "deal.propertyChange"]),
                               st.one_of(st.just("contact.creation"), HOSTILE_TEXT)),
    "objectId": mostly(st.sampled_from([KNOWN_CONTACT, str(KNOWN_CONTACT)]), st.one_of(NUMBERS, HOSTILE_TEXT, st.none())),
    "propertyName": mostly(st.sampled_from([inbound.OWNER, inbound.STAGE, deals.STAGE_PROPERTY]), HOSTILE_TEXT),
    "propertyValue": mostly(st.sampled_from(["", "12345", "customer", "lead", "closedwon"]), st.one_of(SCALARS, JSON),
                            odds=1),
    "occurredAt": mostly(st.just(NOW_MS), st.one_of(NUMBERS, HOSTILE_TEXT, st.none())),
}), min_size=1, max_size=4)


def change(name, value, object_id=KNOWN_CONTACT):
    return [{"subscriptionType": "contact.propertyChange", "objectId": object_id, "propertyName": name,
             "propertyValue": value, "occurredAt": NOW_MS}]


@PURE
@given(events=EVENTS)
def test_any_webhook_events_are_read_as_facts_or_left_to_the_pulls(events):
    contacts, deal_facts = facts_from_events(events)
    for fact in contacts:
        assert fact.contact_id.isdigit()
        assert all(isinstance(part[0], str) for part in (fact.owner, fact.stage) if part)
    assert all(fact.deal_id.isdigit() and fact.dealstage for fact in deal_facts)


@PURE
@given(properties=st.dictionaries(st.sampled_from(["email", inbound.OWNER, inbound.STAGE, "firstname"]),
                                  st.one_of(st.none(), HOSTILE_TEXT)),
       contact_id=st.integers(min_value=1, max_value=10**12))
def test_any_pulled_contact_is_read_as_a_fact(properties, contact_id):
    fact = inbound.fact_from_changed(Changed(str(contact_id), datetime.now(UTC), properties))
    assert fact.contact_id == str(contact_id)


@pytest.mark.django_db
def test_a_stored_delivery_of_any_events_is_processed_or_ignored_never_failed():
    connection = CrmConnection.objects.create(name="HubSpot", token="pat-fuzz")
    CrmContact.objects.create(connection=connection, customer=make_customer(email="ada@example.com"),
                              contact_id=str(KNOWN_CONTACT))

    @WITH_DATABASE
    @given(events=EVENTS)
    @example(events=change(inbound.OWNER, "9" * 40))  # longer than an owner id's column
    @example(events=change(inbound.STAGE, "lead\x00"))  # PostgreSQL holds no NUL
    @example(events=change(inbound.STAGE, "s" * 65))  # longer than a stage's column
    @example(events=change(inbound.OWNER, "12", object_id="9" * 40))  # no HubSpot id is that long
    @example(events=change(inbound.OWNER, "12", object_id=-1))  # nor negative
    @example(events=[{"subscriptionType": "deal.propertyChange", "objectId": 7, "propertyName": deals.STAGE_PROPERTY,
                      "propertyValue": "x\x00" * 40, "occurredAt": NOW_MS}])
    def processed(events):
        with rolled_back():
            event = InboundEvent.objects.create(source=SOURCE, resource=RESOURCE, resource_id=str(connection.pk),
                                                body=json.dumps(events).encode(), body_sha256="-")
            status = webhook_process(event_id=event.pk)
            event.refresh_from_db()
            assert status in (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED), event.reason

    processed()


@pytest.mark.django_db
def test_an_unreadable_owner_is_left_unsaid_while_the_same_deliverys_stage_is_applied():
    connection = CrmConnection.objects.create(name="HubSpot", token="pat-fuzz")
    customer = make_customer(email="ada@example.com")
    CrmContact.objects.create(connection=connection, customer=customer, contact_id=str(KNOWN_CONTACT))
    events = change(inbound.OWNER, "7\x00" * 30) + change(inbound.STAGE, "customer")
    event = InboundEvent.objects.create(source=SOURCE, resource=RESOURCE, resource_id=str(connection.pk),
                                        body=json.dumps(events).encode(), body_sha256="-")

    assert webhook_process(event_id=event.pk) == InboundEvent.Status.PROCESSED

    state = CrmContactState.objects.get(connection=connection, customer=customer)
    assert (state.stage, state.owner_id) == ("customer", "")
