"""The sandbox sends HubSpot's v3-signed webhooks on contact changes, and runs from the command line."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from integrations.crm.sandbox import SandboxCrm, signature_v3
from integrations.woocommerce.sandbox import WebhookReceiver
from tests.integrations.crm.test_sandbox import TOKEN, call, upsert

SECRET = "app-secret-1"


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def test_a_change_by_hand_is_sent_signed_with_v3(hook):
    with SandboxCrm.running(token=TOKEN, owners=2, webhook_url=hook.url, webhook_secret=SECRET) as crm:
        upsert(crm, ("ann@example.com", {"lifecyclestage": "lead"}))
        crm.webhooks.deliver()
        hook.requests.clear()
        owner = crm.store.owners[1]["id"]
        crm.edit("contacts", "ann@example.com", {"hubspot_owner_id": owner, "firstname": "Ann"})
        attempts = call(crm, "POST", "/_sandbox/webhooks/deliver", token=None)[1]
        assert [a["status"] for a in attempts] == [200]
        (received,) = hook.requests
        timestamp = received.header("X-HubSpot-Request-Timestamp")
        assert received.header("X-HubSpot-Signature-v3") == signature_v3(SECRET, "POST", hook.url, received.body, timestamp)
        (event,) = json.loads(received.body)  # firstname is not subscribed to
        assert event["subscriptionType"] == "contact.propertyChange"
        assert (event["propertyName"], event["propertyValue"], event["changeSource"]) == ("hubspot_owner_id", owner, "CRM_UI")
        assert event["objectId"] == int(crm.contact("ann@example.com")["hs_object_id"])


def test_api_writes_are_marked_as_the_integrations_own(hook):
    with SandboxCrm.running(token=TOKEN, webhook_url=hook.url, webhook_secret=SECRET) as crm:
        upsert(crm, ("ann@example.com", {"lifecyclestage": "lead"}))
        crm.webhooks.deliver()
        events = json.loads(hook.requests[0].body)
        assert [e["subscriptionType"] for e in events] == ["contact.creation", "contact.propertyChange"]
        assert {(e["changeSource"], e["sourceId"]) for e in events} == {("INTEGRATION", str(events[0]["appId"]))}


def test_a_failed_delivery_stays_queued_and_is_retried(hook):
    hook.statuses = [500]
    with SandboxCrm.running(token=TOKEN, webhook_url=hook.url, webhook_secret=SECRET) as crm:
        upsert(crm, ("ann@example.com", {}))
        assert [a["status"] for a in crm.webhooks.deliver()] == [500]
        assert [a["status"] for a in crm.webhooks.deliver()] == [200]
        assert json.loads(hook.requests[1].body)[0]["attemptNumber"] == 1


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_line_serves_an_account_with_the_given_token_and_tier():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.crm.sandbox", "--port", str(port), "--token", "pat-cli",
         "--scopes", "crm.objects.contacts.read,crm.objects.owners.read", "--tier", "starter", "--contacts", "3",
         "--owners", "2"], cwd=os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner and "100 requests" in banner

        class Account:
            url = f"http://127.0.0.1:{port}"

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                status, body, _ = call(Account, "GET", "/crm/v3/owners", token="pat-cli")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and len(body["results"]) == 2
        assert call(Account, "POST", "/crm/v3/objects/contacts/search", {}, token="pat-cli")[1]["total"] == 3
        assert call(Account, "GET", "/crm/v3/pipelines/deals", token="pat-cli")[0] == 403
    finally:
        process.terminate()
        process.wait(timeout=10)
