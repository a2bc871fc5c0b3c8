"""The customer screen's owner section beside the CRM (issue 14, item 5): HubSpot's owner by name and
its stage by label next to the console's, when last synced, where they differ and what tracks it,
and the changes on their way or dead; nothing of the CRM without a connection. Built through the
CRM's services (connection, outbox delivery, a pull's facts) against an in-memory HubSpot."""

import html as html_lib
import re

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from integrations.crm.models import CrmConnection, CrmContact, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind
from lifecycle.services.stages import customer_move_stage
from tests.console.crm_support import hand, hub, person, sams_customer
from tests.console.test_customer_screen import SCREEN_MAX_QUERIES
from tests.factories import make_owned_customer, make_user
from tests.integrations.crm.outbox_support import server_error

pytestmark = pytest.mark.django_db
M = OutboundMessage.State


def screen(customer):
    return reverse("console:customer", args=[customer.pk])


def text(response):
    return " ".join(html_lib.unescape(strip_tags(response.content.decode())).split())


def notes(response, kind=None):
    """The CRM notes of the page, in words: [(kind, sentence)]."""
    found = re.findall(r'data-crm-note="(\w+)">.*?<p[^>]*>(.*?)</p>', response.content.decode(), re.S)
    return [(k, " ".join(html_lib.unescape(strip_tags(t)).split())) for k, t in found if kind in (None, k)]


def crm_text(response):
    block = re.search(r"<div[^>]*data-crm>(.*?)</div>\s*$", response.content.decode(), re.S | re.M)
    return " ".join(html_lib.unescape(strip_tags(block.group(1))).split())


def crm_queries(queries):
    return [q for q in queries if '"crm_' in q["sql"]]


def keys(response):
    return [section["key"] for section in response.context["sections"]]


def test_hubspots_owner_and_stage_stand_beside_the_consoles_with_the_last_sync(client_for, manager):
    # given Ada, Sam's customer, delivered to HubSpot, which says the same
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="11", stage="customer")

    # when the manager opens her screen
    response = client_for(manager).get(screen(ada))

    # then the owner section names HubSpot's owner (as the console names the agent) and stage, and the sync
    page = text(response)
    assert "Agent Sam Rivera" in page and "In HubSpot: Sam Rivera (Customer)" in page
    assert "In HubSpot: Sam Rivera (Customer) last synced just now" in page
    contact = CrmContact.objects.get(customer=ada).contact_id
    assert f'title="HubSpot contact {contact}">last synced' in response.content.decode()  # the id on hover
    assert notes(response) == []


def test_before_hubspot_is_read_the_section_says_what_the_console_sent_it(client_for, support_agent):
    # given Ada delivered to HubSpot, no pull yet
    account = hub()
    ada = sams_customer(account)
    hand(ada, account.sam)

    page = text(client_for(account.sam.user).get(screen(ada)))

    assert "In HubSpot, as the console last sent it: Sam Rivera (Customer)" in page


def test_a_different_owner_in_hubspot_is_said_with_the_conflict_that_tracks_it(client_for, manager):
    # given Ada is Sam's; someone gives her to Ann in HubSpot and a pull reads it (console is truth)
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="12", stage="customer")
    conflict = ExceptionCase.objects.get(customer=ada, kind=ExceptionKind.OWNERSHIP_CONFLICT)

    for user in (manager, account.sam.user):
        response = client_for(user).get(screen(ada))

        # then HubSpot's owner stands out, with a sentence saying whose it is and what tracks it
        assert "In HubSpot: Ann Lee (Customer)" in text(response)
        assert notes(response) == [("differs", "HubSpot names Ann Lee as the owner; the console's is Sam Rivera; "
                                               "an open ownership conflict tracks it.")], user
        assert 'href="#exceptions"' in response.content.decode()
        assert conflict.status == "open"


def test_a_stage_hubspot_holds_apart_from_the_consoles_is_said(client_for, manager):
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="11", stage="lead")

    response = client_for(manager).get(screen(ada))

    assert "In HubSpot: Sam Rivera (Lead)" in text(response)
    assert notes(response) == [("differs", "HubSpot's stage is Lead; the console's Onboarding is Customer there; an "
                                           "open ownership conflict tracks it.")]


def test_a_change_on_its_way_says_what_and_since_when_instead_of_a_difference(client_for, manager):
    # given HubSpot names Sam, and a manager just handed Ada to Ann: the change is queued, not sent
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="11", stage="customer")
    hand(ada, account.ann)

    response = client_for(manager).get(screen(ada))

    # then the section says it is on its way, not that the two disagree
    assert "In HubSpot: Sam Rivera (Customer)" in text(response)
    assert notes(response) == [("pending", "Sending to HubSpot: owner → Ann Lee, queued just now.")]


def test_a_change_held_back_says_why(client_for, manager):
    # given Kim has no HubSpot owner with her email, and a change to a backward stage failed once
    account = hub()
    ada = sams_customer(account)
    kim = person("kim", "Kim", "Park")
    hand(ada, kim)
    account.crm.fail.append(server_error())
    customer_move_stage(customer=ada, transition="flag_at_risk", actor=Actor.for_user(manager))
    account.deliver()

    response = client_for(manager).get(screen(ada))

    said = dict(notes(response))
    assert said["waiting"] == ("Sending to HubSpot: lifecycle stage → At risk (Customer in HubSpot), queued just now. "
                               "The last try failed: "
                               "HubSpot answered 502 Bad Gateway three times; it will be tried again. Next try within "
                               "a minute."), said
    owner = [n for k, n in notes(response) if "owner →" in n]
    assert owner == ["Sending to HubSpot: owner → Kim Park, queued just now. It waits: The agent has no HubSpot "
                     "owner with their email."]


def test_a_dead_change_says_what_failed_and_who_replays_it(client_for, manager, operations):
    # given HubSpot refuses Ada's contact from now on, and a manager hands her to Ann
    account = hub()
    ada = sams_customer(account)
    account.crm.refuse[ada.email] = "Property values were not valid: email is a test address."
    hand(ada, account.ann)
    account.deliver()
    [dead] = OutboundMessage.objects.filter(customer=ada, state=M.DEAD)
    outbox = reverse("admin:crm_outboundmessage_change", args=[dead.pk])
    sentence = ("Not delivered to HubSpot: owner → Ann Lee, written just now. Property values were not valid: email "
                "is a test address.")

    # then a manager reads the sentence and a link to the message, where operations replay it
    response = client_for(manager).get(screen(ada))
    assert notes(response) == [("dead", f"{sentence} Operations can replay it in the CRM outbox.")]
    assert f'href="{outbox}"' in response.content.decode()

    # the agent reads the same without a link (the outbox is not theirs)
    response = client_for(account.sam.user).get(screen(ada))
    assert notes(response) == [("dead", f"{sentence} Operations can replay it in the CRM outbox.")]
    assert outbox not in response.content.decode()

    # and operations, who may not read owners, get a CRM section of their own, with the replay
    response = client_for(operations).get(screen(ada))
    assert "owner" not in keys(response) and "crm" in keys(response)
    assert notes(response) == [("dead", f"{sentence} Replay it in the CRM outbox.")]
    assert f'href="{outbox}"' in response.content.decode()


def test_operations_read_the_sync_and_the_stage_without_the_owners(client_for, operations):
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="12", stage="lead")

    response = client_for(operations).get(screen(ada))

    crm = crm_text(response)
    assert crm.startswith("In HubSpot: lifecycle stage Lead last synced just now"), crm
    assert "Ann Lee" not in crm and "Sam Rivera" not in crm
    # nothing of the conflict: exceptions are not theirs to read
    assert notes(response) == [("differs", "HubSpot's stage is Lead; the console's Onboarding is Customer there.")]


def test_a_customer_not_in_hubspot_yet_says_so_and_what_is_on_its_way(client_for, manager):
    account = hub()
    ada = make_owned_customer(paid=True, name="Ada Lovelace", email="ada@example.com")
    hand(ada, account.sam)

    response = client_for(manager).get(screen(ada))

    assert "Not in HubSpot yet." in text(response)
    assert [n for _, n in notes(response)] == [
        "Sending to HubSpot: new contact, queued just now.",
        "Sending to HubSpot: lifecycle stage → Onboarding (Customer in HubSpot), queued just now.",
        "Sending to HubSpot: owner → Sam Rivera, queued just now."]


def test_without_a_crm_connection_nothing_is_said_of_it_at_the_cost_of_one_query(client_for, manager, operations):
    ada = make_owned_customer(paid=True)
    client = client_for(manager)
    client.get(screen(ada))

    with CaptureQueriesContext(db) as queries:
        response = client.get(screen(ada))

    assert "HubSpot" not in text(response) and "data-crm" not in response.content.decode()
    assert len(crm_queries(queries)) == 1
    assert "crm" not in keys(client_for(operations).get(screen(ada)))


def test_an_inactive_connection_is_not_shown(client_for, manager):
    account = hub()
    ada = sams_customer(account)
    CrmConnection.objects.filter(pk=account.connection.pk).update(is_active=False)

    assert "HubSpot" not in text(client_for(manager).get(screen(ada)))


@pytest.mark.parametrize("role", ["manager", "agent", "operations"])
def test_the_crm_costs_two_queries_whatever_the_number_of_changes(request, client_for, role):
    # given Ada in HubSpot with one change queued, then with every field queued and a dead one
    account = hub()
    ada = sams_customer(account)
    user = {"manager": lambda: make_user(group="Manager"), "agent": lambda: account.sam.user,
            "operations": lambda: make_user(group="Operations")}[role]()
    client = client_for(user)
    account.says(ada, owner="12", stage="lead")
    hand(ada, account.ann)
    client.get(screen(ada))

    def count():
        with CaptureQueriesContext(db) as queries:
            assert client.get(screen(ada)).status_code == 200
        return len(queries), len(crm_queries(queries))

    one = count()
    for reason in ("VIP", "Back", "Again"):
        hand(ada, account.sam if reason != "Back" else account.ann, reason=reason)
    customer_move_stage(customer=ada, transition="flag_at_risk", actor=Actor.for_user(make_user(group="Manager")))
    many = count()

    assert one == many and one[1] == 2, (one, many)
    assert many[0] <= SCREEN_MAX_QUERIES, many


def test_hubspot_naming_no_owner_or_the_console_having_no_agent_reads_as_such(client_for, manager):
    # given Ada, whose contact HubSpot left without an owner
    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="", stage="customer")
    assert notes(client_for(manager).get(screen(ada))) == [
        ("differs", "HubSpot names no owner; the console's is Sam Rivera.")]

    # and Bob, bought but unpaid: Commerce owns him with nobody in it, while HubSpot names Ann
    bob = make_owned_customer(name="Bob Stone", email="bob@example.com")
    account.deliver()
    account.says(bob, owner="12", stage="opportunity")
    assert notes(client_for(manager).get(screen(bob))) == [
        ("differs", "HubSpot names Ann Lee as the owner; the console's is nobody yet (Commerce has no agent for the "
                    "customer); an open ownership conflict tracks it.")]


def test_an_agent_hubspot_no_longer_knows_is_said(client_for, manager):
    # given Ada is Sam's and HubSpot says so; then Sam's HubSpot user is removed and the connection checked
    from integrations.crm.connections import crm_connection_check

    account = hub()
    ada = sams_customer(account)
    account.says(ada, owner="11", stage="customer")
    account.crm._owners = [o for o in account.crm._owners if o.id != "11"]
    crm_connection_check(connection=account.connection, actor=Actor.system("tests"), adapter=account.crm)

    assert notes(client_for(manager).get(screen(ada))) == [
        ("differs", "HubSpot names HubSpot owner 11, whom no agent here is linked to as the owner; the console's is "
                    "Sam Rivera, who has no HubSpot owner with their email.")]
