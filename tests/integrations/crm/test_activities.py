"""CRM activities on the customer's timeline, through the real adapter and the sandbox: each note,
call, email, meeting and task once per customer it is about, as the CRM's word, however often it is
read again."""

import pytest

from integrations.crm.activities import plain
from integrations.crm.models import CrmActivity, CrmCursor
from lifecycle.models import TimelineEvent
from tests.factories import make_customer
from tests.integrations.crm.inbound_support import (  # noqa: F401 (fixtures)
    START,
    adapter,
    agents,
    clock,
    connection,
    pull,
    sandbox,
)

pytestmark = pytest.mark.django_db


def crm_events(customer):
    return list(TimelineEvent.objects.filter(customer=customer, kind="crm_activity").order_by("occurred_at", "pk"))


@pytest.fixture
def ann(connection, sandbox, agents):
    customer = make_customer(email="ann@example.com")
    sandbox.store.create("contacts", {"email": "ann@example.com", "hubspot_owner_id": agents[0][1]})
    sandbox.store.create("contacts", {"email": "lead@example.com"})  # nobody the console knows
    return customer


def test_activities_land_on_the_timeline_as_the_crms_word(connection, adapter, sandbox, agents, ann):
    # given: a note, a call and an email about Ann, and a note about a lead the console does not know
    sandbox.add_activity("notes", ["ann@example.com"], {"hs_note_body": "<p>Asked about <b>setup</b> &amp; returns</p>",
                                                        "hubspot_owner_id": agents[0][1]},
                         occurred_at="2025-06-01T09:00:00Z")
    sandbox.clock.advance(1)
    sandbox.add_activity("calls", ["ann@example.com"], {"hs_call_title": "Onboarding check", "hs_call_body": "Done"},
                         occurred_at="2025-06-02T10:00:00Z")
    sandbox.add_activity("emails", ["ann@example.com"], {"hs_email_subject": "Welcome!", "hs_email_text": "Hi Ann"},
                         occurred_at="2025-06-03T11:00:00Z")
    sandbox.add_activity("notes", ["lead@example.com"], {"hs_note_body": "cold lead"})

    # when: the pull runs (contacts first, so the activities find Ann)
    report = pull(connection, adapter)

    # then: three events on Ann's timeline, from the CRM, when they happened, in plain text
    assert report.activities_added == 3 and report.records["activities"] == 4
    note, call, email = crm_events(ann)
    assert (note.source, note.summary) == ("crm", "Note in the CRM: Asked about setup & returns")
    assert note.occurred_at.isoformat().startswith("2025-06-01T09:00:00")
    assert note.data["owner"] == "Ana Souza" and note.data["type"] == "note"
    assert (call.summary, call.data["body"]) == ("Call in the CRM: Onboarding check", "Done")
    assert email.summary == "Email in the CRM: Welcome!" and email.actor_ref == "HubSpot (CRM pull)"
    assert TimelineEvent.objects.filter(kind="crm_activity").count() == 3


def test_reading_activities_again_adds_nothing(connection, adapter, sandbox, ann):
    # given: a note already on Ann's timeline
    note = sandbox.add_activity("notes", ["ann@example.com"], {"hs_note_body": "Called"})
    pull(connection, adapter)

    # when: the CRM edits the note (it comes back with a newer stamp), and the activities are read
    # again from the beginning (a cursor lost, a crash before the page's commit)
    sandbox.clock.advance(60)
    sandbox.edit("notes", note.id, {"hs_note_body": "Called twice"})
    pull(connection, adapter)
    CrmCursor.objects.filter(connection=connection, object_type="activities").update(modified_at=None, last_id="")
    report = pull(connection, adapter)

    # then: still one event, one stored key
    assert report.records["activities"] == 1 and report.activities_added == 0
    assert len(crm_events(ann)) == 1 and CrmActivity.objects.count() == 1


def test_an_activity_of_several_customers_is_on_each_timeline(connection, adapter, sandbox, ann):
    bob = make_customer(email="bob@example.com")
    sandbox.store.create("contacts", {"email": "bob@example.com"})
    sandbox.add_activity("meetings", ["ann@example.com", "bob@example.com"], {"hs_meeting_title": "Kick-off"})

    pull(connection, adapter)

    assert [e.summary for e in crm_events(ann)] == ["Meeting in the CRM: Kick-off"]
    assert [e.summary for e in crm_events(bob)] == ["Meeting in the CRM: Kick-off"]


def test_html_bodies_become_plain_text():
    assert plain("<div>Hi&nbsp;<b>Ann</b>,<br>thanks</div><p>Bo</p><p>at Acme</p>") == "Hi Ann, thanks Bo at Acme"
    assert plain(None) == ""
