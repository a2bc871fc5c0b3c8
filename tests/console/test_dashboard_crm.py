"""The dashboard's CRM sync (issue 14, item 5): changes waiting for HubSpot and the age of the oldest
(the lag), what was delivered in the last hour, dead letters by cause with their last error and a
link to replay them, when each kind of record was last pulled; a quiet line without a connection;
the same few queries whatever the outbox holds. Built through the outbox's own delivery."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from integrations.crm.delivery import outbox_deliver
from integrations.crm.models import CrmCursor, OutboundMessage
from integrations.crm.outcomes import MAX_ATTEMPTS
from tests.console.crm_support import TASK, hub, sams_customer
from tests.factories import make_customer, make_owned_customer
from tests.integrations.crm.outbox_support import Clock, server_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_dashboard")]
DASHBOARD = reverse("console:dashboard")
OUTBOX = reverse("admin:crm_outboundmessage_changelist")
M = OutboundMessage.State


def section(client):
    page = client.get(DASHBOARD).content.decode()
    match = re.search(r'id="crm-sync".*?data-crm-pulls>.*?</div>', page, re.S)
    assert match, "no CRM sync section"
    return match.group(0)


def words(html):
    return " ".join(strip_tags(html).split())


def figure(html, name):
    return re.search(rf'data-crm-figure="{name}".*?text-4xl[^>]*>(?:<a[^>]*>)?([^<]*)<', html, re.S).group(1)


def test_without_a_crm_connection_the_section_is_one_quiet_line(client_for, manager):
    page = client_for(manager).get(DASHBOARD).content.decode()
    assert "No CRM is connected: operations connect HubSpot under CRM connections." in page
    assert 'id="crm-sync"' not in page


def test_the_lag_is_the_age_of_the_oldest_change_waiting_and_red_past_a_quarter_hour(client_for, manager):
    # given two customers' changes waiting, the oldest written 20 minutes ago (the deliverer stalled)
    hub()
    make_customer(email="ada@example.com")
    make_customer(email="bob@example.com")
    oldest = OutboundMessage.objects.order_by("pk").first()
    OutboundMessage.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=20))

    html = section(client_for(manager))

    assert figure(html, "pending") == "4"  # each new customer: its contact and its stage
    lag = re.search(r'<span[^>]*data-crm-lag>(.*?)</span>\s*</span>', html, re.S)
    assert "font-semibold text-red-600" in lag.group(0)
    assert re.fullmatch(r"The oldest has waited 0h 2\dm\.", words(lag.group(1))), words(lag.group(1))
    assert 'title="queued ' in lag.group(1)  # the moment on hover
    assert f'href="{OUTBOX}?state=pending"' in html


def test_delivered_in_the_last_hour_and_nothing_waiting(client_for, manager):
    account = hub()
    sams_customer(account)

    html = section(client_for(manager))

    assert figure(html, "pending") == "0" and "Nothing waits: the CRM is up to date." in words(html)
    assert figure(html, "delivered") == "4"  # contact, stage, owner, the order's deal
    assert figure(html, "dead") == "0" and "Every change was delivered or is still being tried." in words(html)


def test_dead_letters_by_cause_with_their_last_error_and_a_link_to_replay_them(client_for, manager):
    # given one contact HubSpot refuses, and two customers whose changes died of server errors
    account = hub()
    account.crm.refuse["bad@example.com"] = "Property values were not valid: email is a test address."
    make_customer(email="bad@example.com")
    account.deliver()
    make_customer(email="a@example.com")
    clock = Clock()
    account.crm.fail.extend(server_error() for _ in range(MAX_ATTEMPTS))
    for _ in range(MAX_ATTEMPTS):
        outbox_deliver(connection=account.connection, actor=TASK, adapter=account.crm, clock=clock)
        clock.shift(hours=2)

    html = section(client_for(manager))

    # then the causes, most first, each with its count, its last error and its filtered outbox
    assert figure(html, "dead") == "4"
    rows = re.findall(r'<tr data-cause="(\w+)">(.*?)</tr>', html, re.S)
    assert [(cause, words(row)) for cause, row in rows] == [
        ("item", "HubSpot refused the contact Last error: “Property values were not valid: email is a test address.” "
                 "2 just now"),
        ("server", "HubSpot answered with server errors Last error: “HubSpot answered 502 Bad Gateway three times; it "
                   "will be tried again.” 2 just now")]
    assert f'href="{OUTBOX}?state=dead&amp;error_kind__exact=server"' in html
    assert f'href="{OUTBOX}?state=dead"' in html


def test_each_kind_of_record_says_when_it_was_last_pulled(client_for, manager):
    # given contacts pulled five minutes ago, deals whose last run failed, activities never pulled
    account = hub()
    now = timezone.now()
    CrmCursor.objects.create(connection=account.connection, object_type="contacts", last_run_at=now,
                             last_success_at=now - timedelta(minutes=5))
    CrmCursor.objects.create(connection=account.connection, object_type="deals", last_run_at=now,
                             last_success_at=now - timedelta(hours=3), last_error="HubSpot could not be reached.")
    CrmCursor.objects.create(connection=account.connection, object_type="activities")

    html = section(client_for(manager))

    pulls = dict((kind, words(text)) for kind, text in re.findall(r'data-pull="(\w+)"[^>]*>(.*?)</li>', html, re.S))
    assert pulls == {"activities": "Activities: never pulled successfully.",
                     "contacts": "Contacts: last pulled 5 minutes ago.",
                     "deals": "Deals: last pulled 3 hours ago; the run just now failed: “HubSpot could not be "
                              "reached.”."}
    assert 'data-pull="deals" class="text-red-700' in html


def test_the_section_costs_the_same_queries_whatever_the_outbox_holds(client_for, manager):
    account = hub()
    client = client_for(manager)

    def crm_reads():
        cache.clear()
        with CaptureQueriesContext(db) as captured:
            assert client.get(DASHBOARD).status_code == 200
        return [q["sql"] for q in captured if '"crm_' in q["sql"]]

    sams_customer(account)
    few = crm_reads()
    account.crm.refuse["x@example.com"] = "Refused."
    make_customer(email="x@example.com")
    for _ in range(5):
        make_owned_customer()
    account.deliver()
    make_owned_customer()
    many = crm_reads()

    assert len(few) == len(many) == 3, many
    with CaptureQueriesContext(db) as captured:  # within the minute: cached
        client.get(DASHBOARD)
    assert not [q for q in captured if '"crm_' in q["sql"]]
