"""End to end through the real HubSpot adapter (hubspot-api-client) against the sandbox account served
on 127.0.0.1: connect_crm checks the token and links owners, the task delivers new customers with
owner and stage, a backward stage is cleared then set, a refused token opens sync_failure with the
adapter's sentence, and an outage loses nothing: everything arrives, newest last, after it."""

from datetime import UTC, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from integrations.crm import daily_cap, outbox
from integrations.crm.delivery import outbox_deliver
from integrations.crm.hubspot import HubSpotAdapter
from integrations.crm.models import CrmConnection, OutboundMessage
from integrations.crm.pacing import Pacer
from integrations.crm.sandbox import SandboxCrm
from integrations.crm.tasks import deliver_crm_outbox
from lifecycle.actors import Actor
from lifecycle.models import Customer, ExceptionCase, ExceptionKind
from lifecycle.services.customers import customers_create
from lifecycle.services.ownership import owner_reassign
from lifecycle.services.stages import customer_move_stage
from tests.factories import make_agent, make_customer, make_owned_customer, make_user, team
from tests.integrations.crm.outbox_support import TASK, Clock

pytestmark = pytest.mark.django_db
TOKEN = "pat-sandbox-e2e-0123456789"
M = OutboundMessage.State


@pytest.fixture
def hubspot():
    outbox.kick_reset()
    with SandboxCrm.running(token=TOKEN, tier="starter", owners=0) as account:
        yield account


@pytest.fixture
def grace(hubspot):
    agent = make_agent(make_user("grace", first_name="Grace", last_name="Hopper"), teams=["commerce", "success"])
    hubspot.store.add_owner(agent.user.email, "Grace", "Hopper", owner_id="41000077")
    return agent


def connect(hubspot, token=TOKEN):
    out = StringIO()
    call_command("connect_crm", "hubspot", "--token", token, "--base-url", hubspot.url, stdout=out)
    return CrmConnection.objects.get(), out.getvalue()


def test_connect_then_deliver_a_new_customer_with_its_owner_and_stage(hubspot, grace):
    connection, out = connect(hubspot)
    assert "Grace Hopper → HubSpot owner grace@example.com" in out and "Opportunity (opportunity)" in out
    make_owned_customer(name="Ada Lovelace", email="ada@example.com")
    assert deliver_crm_outbox(connection.pk) == {connection.pk: 4}  # name, owner, stage and the order's deal
    contact = hubspot.contact("ada@example.com")
    assert (contact["firstname"], contact["lastname"]) == ("Ada", "Lovelace")
    assert (contact["hubspot_owner_id"], contact["lifecyclestage"]) == ("41000077", "opportunity")
    assert connection.contacts.get().contact_id == contact["hs_object_id"]


def test_a_backward_stage_is_cleared_then_set_in_hubspot(hubspot, grace):
    connection, _ = connect(hubspot)
    customer = make_owned_customer(paid=True, email="back@example.com")
    manager = Actor.for_user(make_user(group="Manager"))
    customer_move_stage(customer=customer, transition="activate", actor=manager)
    customer_move_stage(customer=customer, transition="make_loyal", actor=manager)
    deliver_crm_outbox(connection.pk)
    assert hubspot.contact("back@example.com")["lifecyclestage"] == "evangelist"
    customer_move_stage(customer=customer, transition="back_to_active", actor=manager, reason="Cooled down")
    deliver_crm_outbox(connection.pk)
    assert hubspot.contact("back@example.com")["lifecyclestage"] == "customer"
    stages = [i["properties"].get("lifecyclestage") for r in hubspot.requests_to("/contacts/batch/upsert")
              for i in r["body"]["inputs"] if "lifecyclestage" in i["properties"]]
    assert stages[-2:] == ["", "customer"]


def test_a_bad_token_opens_sync_failure_with_the_adapters_sentence(hubspot):
    with pytest.raises(Exception) as refused:
        connect(hubspot, token="pat-wrong")
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert failure.summary.removeprefix("HubSpot: ") in str(refused.value)


def test_an_outage_loses_nothing_and_the_newest_owner_arrives_last(hubspot, grace):
    connection, _ = connect(hubspot)
    # The adapter's own retries wait real seconds: this one waits none (the delivery's clock is shifted).
    adapter = HubSpotAdapter(TOKEN, base_url=hubspot.url, pacer=Pacer(100), sleep=lambda seconds: None)
    clock = Clock()
    customers = [make_owned_customer(email=f"c{n}@example.com") for n in range(3)]  # all Grace's
    linus = make_agent(make_user("linus"), teams=["commerce"])
    hubspot.store.add_owner(linus.user.email, "Linus", owner_id="41000078")
    hubspot.outage(3600, mode="503")
    tried = 0
    for _ in range(10):  # the beat's runs through ten minutes of outage
        report = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)
        assert report.delivered == 0 and report.dead == 0
        tried += report.batches
        clock.shift(minutes=1)
    assert tried >= 4  # retried as their backoff came due, none given up
    owner_reassign(customer=customers[0], team=team("commerce"), agent=linus, reason="Handover",
                   actor=Actor.for_user(make_user(group="Manager")))
    hubspot.end_outage()
    clock.shift(hours=1)
    while (report := outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)).more:
        pass
    assert not OutboundMessage.objects.filter(state__in=[M.PENDING, M.DEAD]).exists()
    assert hubspot.contact("c0@example.com")["hubspot_owner_id"] == "41000078"
    older = OutboundMessage.objects.get(customer=customers[0], field="owner", value__agent=grace.pk)
    assert older.state == M.SUPERSEDED  # never sent after the newer one
    assert {hubspot.contact(f"c{n}@example.com")["hubspot_owner_id"] for n in (1, 2)} == {"41000077"}


def test_a_connection_saved_before_hubspot_is_up_is_checked_by_the_first_delivery_that_reaches_it(hubspot, grace):
    # Given make run's order: the connection is saved before the sandbox CRM takes requests
    out = StringIO()
    call_command("connect_crm", "hubspot", "--token", TOKEN, "--base-url", hubspot.url, "--no-check", stdout=out)
    assert "without checking it" in out.getvalue() and not hubspot.requests_to("/")
    connection = CrmConnection.objects.get()
    make_owned_customer(name="Ada Lovelace", email="ada@example.com")
    adapter = HubSpotAdapter(TOKEN, base_url=hubspot.url, pacer=Pacer(100), sleep=lambda seconds: None)
    hubspot.outage(3600, mode="503")
    # When the first delivery finds HubSpot down: nothing is known of the token, so nothing is held for it
    report = outbox_deliver(connection=connection, actor=TASK, adapter=adapter)
    connection.refresh_from_db()
    assert report.delivered == 0 and "503" in report.stopped
    assert connection.check_ok is None and connection.checked_at is not None
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.SYNC_FAILURE).exists()
    # Then the next run, HubSpot up, checks it (owners linked) and delivers what waited
    hubspot.end_outage()
    assert outbox_deliver(connection=connection, actor=TASK, adapter=adapter).delivered == 4
    connection.refresh_from_db()
    assert connection.check_ok and "HubSpot accepts the token" in connection.check_message
    assert hubspot.contact("ada@example.com")["hubspot_owner_id"] == "41000077"


def test_connecting_pushes_every_owned_customer_and_their_orders_in_one_statement_each(hubspot, grace):
    # given: customers made before the CRM was connected (nothing was written for them then)
    ada = make_owned_customer(name="Ada Lovelace", email="ada@example.com", paid=True)
    make_owned_customer(name="Alan Turing", email="alan@example.com")
    make_customer(name="Just Browsing", email="lead@example.com")  # no order, no owner: not pushed
    assert not OutboundMessage.objects.exists()

    # when: the connection is made
    with CaptureQueriesContext(db) as queries:
        connection, out = connect(hubspot)

    # then: one INSERT … SELECT queued the owned customers' fields, one their orders
    inserts = [q for q in queries.captured_queries if q["sql"].lstrip().startswith('INSERT INTO "crm_outboundmessage"')]
    assert len(inserts) == 2 and "8 changes wait in the outbox" in out  # two customers' three fields, two orders
    assert sorted(OutboundMessage.objects.filter(customer=ada).values_list("field", flat=True)) == [
        "contact", "deal", "owner", "stage"]

    # and: one delivery brings them to HubSpot, contacts before their deals
    assert deliver_crm_outbox(connection.pk) == {connection.pk: 8}
    contact = hubspot.contact("ada@example.com")
    assert (contact["firstname"], contact["hubspot_owner_id"], contact["lifecyclestage"]) == (
        "Ada", "41000077", "customer")
    [deal] = [d for d in hubspot.store.snapshot("deals")["deals"] if d["properties"]["dealstage"] == "closedwon"]
    assert hubspot.deal(deal["properties"]["aftercare_order_key"])["contacts"] == [contact["hs_object_id"]]
    assert hubspot.contact("lead@example.com") is None

    # and: connecting again with --no-push (a new token for this account) queues nothing
    call_command("connect_crm", "hubspot", "--token", TOKEN, "--base-url", hubspot.url, "--no-push", stdout=StringIO())
    assert not OutboundMessage.objects.filter(state=M.PENDING).exists()


def test_deliveries_stop_before_the_daily_cap_and_go_on_the_next_day(hubspot):
    # given: an account whose daily cap leaves room for two batches today, and 250 new customers
    connection, _ = connect(hubspot)
    CrmConnection.objects.filter(pk=connection.pk).update(daily_cap=3)  # deliveries keep 95%: two requests
    connection.refresh_from_db()
    customers_create([(Customer(display_name=f"Guest {n}", email=f"guest{n}@example.com"), [], TASK)
                      for n in range(250)], [])
    adapter, clock = HubSpotAdapter(TOKEN, base_url=hubspot.url, pacer=Pacer(100), sleep=lambda s: None), Clock()

    # when: the outbox delivers
    report = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)

    # then: two batches went; the rest waits for tomorrow, saying why, and operations are told once
    assert report.batches == 2 and report.delivered == 400 and "requests HubSpot allows a day" in report.stopped
    held = OutboundMessage.objects.filter(state=M.PENDING)
    assert held.count() == 100 and set(held.values_list("error_kind", flat=True)) == {"daily_cap"}
    assert all(m.next_attempt_at.hour == 0 and m.next_attempt_at > clock() for m in held)
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE, subject_key=f"crm:{connection.pk}/daily-cap")
    assert failure.status == "open" and "2 of the 3 requests" in failure.summary

    # when: the next day comes
    clock.shift(days=1)
    report = outbox_deliver(connection=connection, actor=TASK, adapter=adapter, clock=clock)

    # then: the rest goes and the failure resolves itself
    assert report.delivered == 100 and not OutboundMessage.objects.filter(state=M.PENDING).exists()
    failure.refresh_from_db()
    assert failure.status == "resolved" and len(hubspot.store.objects["contacts"]) == 250


def test_connecting_an_account_without_the_order_key_property_creates_it_and_deals_upsert_by_it(hubspot, grace):
    # given: a HubSpot account where nobody created the console's deal property yet
    hubspot.store.remove_property("deals", "aftercare_order_key")

    connection, out = connect(hubspot)

    # then: the check created it (unique) and says so; the first order lands as a deal keyed by it
    assert "the deal property aftercare_order_key was created" in out
    [created] = [r for r in hubspot.requests_to("/crm/v3/properties/deals") if r["method"] == "POST"]
    assert created["status"] == 201
    make_owned_customer(name="Ada Lovelace", email="ada@example.com")
    assert deliver_crm_outbox(connection.pk) == {connection.pk: 4}
    assert not OutboundMessage.objects.exclude(state=M.DELIVERED).exclude(state=M.SUPERSEDED).exists()


def test_without_the_property_nor_the_scope_to_create_it_the_check_fails_saying_both_ways_out(hubspot, grace):
    from integrations.crm.hubspot import REQUIRED_SCOPES
    hubspot.store.remove_property("deals", "aftercare_order_key")
    hubspot.add_token("pat-no-schemas-write", REQUIRED_SCOPES)

    with pytest.raises(CommandError, match="crm.schemas.deals.write"):
        connect(hubspot, token="pat-no-schemas-write")

    connection = CrmConnection.objects.get()
    assert connection.check_ok is False
    assert "crm.schemas.deals.write" in connection.check_message and "by hand" in connection.check_message
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert "aftercare_order_key" in failure.summary


def test_the_daily_cap_counts_the_accounts_days_which_the_check_reads_from_hubspot():
    with SandboxCrm.running(token=TOKEN, owners=0, time_zone="Asia/Tokyo") as tokyo:
        connection, out = connect(tokyo)
    # the check read the account's zone; a bad name from HubSpot would be kept out (UTC)
    assert connection.time_zone == "Asia/Tokyo"
    assert daily_cap.zone_named("Mars/Olympus_Mons") == "" and daily_cap.zone_named("x" * 65) == ""

    # held changes wait for Tokyo's midnight, which is 15:00 UTC
    now = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # already March 3rd, 01:00 in Tokyo
    assert daily_cap.next_day(now, connection) == datetime(2026, 3, 4, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert daily_cap.next_day(now, connection) == datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    usage = daily_cap.Usage(connection, HubSpotAdapter(TOKEN, base_url="http://127.0.0.1:9"), share=1.0)
    CrmConnection.objects.filter(pk=connection.pk).update(daily_cap=1)
    connection.refresh_from_db()
    usage.adapter.requests = 1
    assert "midnight (Asia/Tokyo)" in usage.spend(now, final=True)
    connection.refresh_from_db()
    assert connection.requests_day.isoformat() == "2026-03-03"
