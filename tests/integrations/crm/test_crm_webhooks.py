"""HubSpot's webhooks: signature v3 checked (good, bad, stale timestamp), the delivery stored raw
before anything else, and processed by the pulls' own path. The events are the sandbox's own, as
HubSpot shapes them; one test has the sandbox deliver them to a live server."""

import json
import logging
import time

import pytest

from console.celery import app as celery_app
from integrations.crm.base import DealChange
from integrations.crm.deals import order_key
from integrations.crm.sandbox import signature_v3
from integrations.crm.webhooks import facts_from_events, signature_ok, webhook_path, webhook_secret_set
from integrations.models import InboundEvent
from lifecycle.models import ExceptionCase, OrderSourceState
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
SECRET = "hubspot-app-client-secret-5c1d"
EMAIL = "ann@example.com"


@pytest.fixture
def secret(connection):
    webhook_secret_set(connection=connection, secret=SECRET, actor=SYSTEM)
    return SECRET


@pytest.fixture
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def ann(connection, adapter, agents):
    customer = owned_customer(agents[0][0], EMAIL)
    deliver(connection, adapter)
    return customer


def hubspot_events(sandbox, url):
    """The events the sandbox queued for `url`, as HubSpot would send them (one JSON array)."""
    sandbox.webhooks.configure(url=url, secret=SECRET)
    events = list(sandbox.webhooks.pending)
    sandbox.webhooks.pending.clear()
    return json.dumps(events, separators=(",", ":")).encode()


def post(client, connection, body, *, secret=SECRET, timestamp=None, signature=None):
    path = webhook_path(connection)
    timestamp = str(int(time.time() * 1000)) if timestamp is None else timestamp
    signature = signature or signature_v3(secret, "POST", f"http://testserver{path}", body, timestamp)
    return client.post(path, body, content_type="application/json", HTTP_X_HUBSPOT_SIGNATURE_V3=signature,
                       HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp)


def owner_change(sandbox, connection, agents):
    sandbox.webhooks.configure(url="http://testserver/", secret=SECRET)  # queue events from now on
    sandbox.clock.advance(60)
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[2][1]})
    return hubspot_events(sandbox, f"http://testserver{webhook_path(connection)}")


def test_the_signature_is_hubspots_v3():
    body, uri, ts = b'[{"eventId":1}]', "https://console.example.com/webhooks/hubspot/1/", "1735689600000"
    good = signature_v3(SECRET, "POST", uri, body, ts)  # the sandbox's, written from HubSpot's docs
    assert signature_ok(SECRET, "POST", uri, body, ts, good)
    assert not signature_ok(SECRET, "POST", uri, body + b" ", ts, good)
    assert not signature_ok("another-secret", "POST", uri, body, ts, good)
    assert not signature_ok(SECRET, "POST", uri, body, ts, None) and not signature_ok("", "POST", uri, body, ts, good)


def test_a_signed_delivery_is_stored_raw_then_applied_as_a_pull_would(
        client, connection, sandbox, agents, ann, secret, eager, django_capture_on_commit_callbacks):
    body = owner_change(sandbox, connection, agents)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, connection, body)

    # then: 200, the body kept byte for byte, processed: the CRM's other owner is a conflict now,
    # raised in the delivery's name
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get(pk=response.json()["event"])
    assert bytes(event.body) == body and event.source == "hubspot" and event.status == "processed"
    assert event.topic == "contact.propertyChange" and event.resource_id == str(connection.pk)
    case = ExceptionCase.objects.get(kind="ownership_conflict", customer=ann)
    assert case.evidence["crm"]["agent"] == "Carla Reis"
    assert ann.timeline.filter(kind="exception_opened", actor_kind="webhook",
                               actor_ref=f"HubSpot webhook #{event.pk}").exists()


def test_a_bad_signature_is_refused_and_kept_for_operators(client, connection, sandbox, agents, ann, secret, caplog):
    body = owner_change(sandbox, connection, agents)

    with caplog.at_level(logging.WARNING):
        response = post(client, connection, body, secret="not-the-apps-secret")

    assert response.status_code == 401
    event = InboundEvent.objects.get(source="hubspot")
    assert event.status == "rejected" and "signature" in event.reason and bytes(event.body) == body
    assert "refused HubSpot webhook" in caplog.text
    assert not ExceptionCase.objects.filter(kind="ownership_conflict").exists()


def test_a_timestamp_older_than_five_minutes_is_refused_and_logged(client, connection, sandbox, agents, ann, secret,
                                                                   caplog):
    body = owner_change(sandbox, connection, agents)
    six_minutes_ago = str(int((time.time() - 6 * 60) * 1000))

    with caplog.at_level(logging.WARNING):
        response = post(client, connection, body, timestamp=six_minutes_ago)  # correctly signed: a replay

    assert response.status_code == 401
    event = InboundEvent.objects.get(source="hubspot")
    assert event.status == "rejected" and "timestamp" in event.reason
    assert "more than 5 minutes" in caplog.text


def test_without_a_secret_nothing_is_accepted(client, connection, sandbox, agents, ann):
    response = post(client, connection, owner_change(sandbox, connection, agents))
    assert response.status_code == 401 and "no webhook secret" in InboundEvent.objects.get().reason


def test_the_body_size_is_limited_before_anything(client, connection, secret, settings):
    settings.AFTERCARE_WEBHOOK_MAX_BYTES = 100
    response = post(client, connection, b"[" + b'{"eventId":1},' * 20 + b'{"eventId":2}]')
    assert response.status_code == 413 and bytes(InboundEvent.objects.get().body) == b""


def test_a_deal_stage_change_updates_the_orders_crm_source_state(
        client, connection, adapter, sandbox, store, secret, eager, django_capture_on_commit_callbacks):
    # given: order #1042's deal, pulled once (the console knows which order the deal names)
    from tests.integrations.erp.test_importing import shop_reports

    order = shop_reports(store, 1042)
    adapter.upsert_deals([DealChange(order_key(order), {"dealstage": "appointmentscheduled"})])
    pull(connection, adapter)

    # when: HubSpot's webhook says the deal was won
    sandbox.webhooks.configure(url="http://testserver/", secret=SECRET)
    sandbox.clock.advance(60)
    adapter.upsert_deals([DealChange(order_key(order), {"dealstage": "closedwon"})])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, connection, hubspot_events(sandbox, f"http://testserver{webhook_path(connection)}"))

    # then: the order's CRM source state is the won stage, without waiting for a pull
    assert response.status_code == 200
    source = OrderSourceState.objects.get(order=order, system="crm")
    assert source.raw_status == "closedwon" and source.event_ref.startswith("hubspot-webhook:")


def test_a_late_delivery_never_overrides_a_newer_word(connection, adapter, sandbox, agents, ann):
    # given: the CRM's events about Ann's owner, the older one arriving after the newer was applied
    from datetime import UTC, datetime

    from integrations.crm import inbound
    from integrations.crm.models import CrmContactState

    contact = sandbox.contact(EMAIL)["hs_object_id"]
    at = int(datetime.now(UTC).timestamp() * 1000)
    newer = [{"subscriptionType": "contact.propertyChange", "objectId": contact, "occurredAt": at,
              "propertyName": "hubspot_owner_id", "propertyValue": agents[0][1]}]
    older = [{**newer[0], "occurredAt": at - 5000, "propertyValue": agents[2][1]}]
    for events in (newer, older):
        facts, _ = facts_from_events(events)
        inbound.contacts_apply(connection=connection, facts=facts, actor=SYSTEM)

    # then: the newer owner stands, and no conflict was opened by the late word
    assert CrmContactState.objects.get(customer=ann).owner_id == agents[0][1]
    assert not ExceptionCase.objects.filter(kind="ownership_conflict").exists()


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_to_the_running_console(live_server, connection, sandbox, agents, ann, secret, eager):
    # given: HubSpot (the sandbox, its clock at now: it stamps its requests) calls the console's
    # webhook URL, signing with the app's secret
    from datetime import UTC, datetime

    sandbox.webhooks.configure(url=f"{live_server.url}{webhook_path(connection)}", secret=SECRET)
    sandbox.clock.advance((datetime.now(UTC) - sandbox.clock.now()).total_seconds())
    sandbox.edit("contacts", EMAIL, {"hubspot_owner_id": agents[1][1]})

    # when: it delivers
    [attempt] = sandbox.webhooks.deliver()

    # then: accepted, stored and processed in the console
    assert attempt["status"] == 200, attempt
    assert InboundEvent.objects.get(source="hubspot").status == "processed"
    assert ExceptionCase.objects.get(kind="ownership_conflict", customer=ann).evidence["crm"]["agent"] == "Bruno Lima"


def test_operations_turn_webhooks_on_with_a_command(connection):
    import io

    from django.core.management import call_command

    from integrations.crm.models import CrmWebhookSecret

    out = io.StringIO()
    call_command("crm_webhook", "--secret", SECRET, "--base-url", "https://console.example.com/", stdout=out)

    assert f"https://console.example.com/webhooks/hubspot/{connection.pk}/" in out.getvalue()
    stored = CrmWebhookSecret.objects.get(connection=connection)
    assert stored.secret == SECRET and SECRET not in str(stored)  # shown masked
