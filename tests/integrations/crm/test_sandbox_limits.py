"""The sandbox's rate limits and faults: HubSpot's 429 bodies per policy, Retry-After on demand,
injected 5xx, latency and outages.

The rate-limit windows run on a ManualClock so a test sends hundreds of requests in no real time.
"""

import json
import socket
import time
import urllib.request

import pytest

from integrations.crm.sandbox import ManualClock, SandboxCrm
from tests.integrations.crm.test_sandbox import TOKEN, call

OWNERS = "/crm/v3/owners"


@pytest.fixture
def clock():
    return ManualClock()


def served(clock, **options):
    return SandboxCrm.running(token=TOKEN, owners=1, monotonic=clock, **options)


def test_the_191st_request_in_ten_seconds_is_a_429_with_hubspots_body(clock):
    with served(clock, tier="professional") as crm:
        assert all(call(crm, "GET", OWNERS)[0] == 200 for _ in range(190))
        status, body, headers = call(crm, "GET", OWNERS)
        assert status == 429
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert (body["status"], body["errorType"], body["policyName"]) == ("error", "RATE_LIMIT", "TEN_SECONDLY_ROLLING")
        assert body["correlationId"] and "Retry-After" not in headers  # HubSpot usually sends none
        clock.sleep(10)  # the window rolls on
        assert call(crm, "GET", OWNERS)[0] == 200
        assert crm.counters()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}


def test_starter_allows_100_per_window_and_retry_after_can_be_switched_on(clock):
    with served(clock, tier="starter", retry_after="window") as crm:
        for _ in range(60):
            call(crm, "GET", OWNERS)
        clock.sleep(4)
        for _ in range(40):
            call(crm, "GET", OWNERS)
        status, _, headers = call(crm, "GET", OWNERS)
        assert status == 429 and headers["Retry-After"] == "6"  # the first 60 leave the window in 6 s
        clock.sleep(6)
        assert call(crm, "GET", OWNERS)[0] == 200
        call(crm, "POST", "/_sandbox/limits", {"retry_after": None}, token=None)
        for _ in range(100):
            call(crm, "GET", OWNERS)
        assert "Retry-After" not in call(crm, "GET", OWNERS)[2]


def test_search_is_limited_to_four_requests_a_second(clock):
    with served(clock) as crm:
        assert [call(crm, "POST", "/crm/v3/objects/contacts/search", {})[0] for _ in range(5)] == [200] * 4 + [429]
        assert call(crm, "GET", OWNERS)[0] == 200  # other endpoints are not held back
        body = call(crm, "POST", "/crm/v3/objects/contacts/search", {})[1]
        assert body["policyName"] == "SECONDLY"
        clock.sleep(1)
        assert call(crm, "POST", "/crm/v3/objects/contacts/search", {})[0] == 200


def test_the_daily_cap_answers_429_daily(clock):
    with served(clock, daily=3) as crm:
        assert [call(crm, "GET", OWNERS)[0] for _ in range(4)] == [200, 200, 200, 429]
        assert call(crm, "GET", OWNERS)[1]["policyName"] == "DAILY"
        assert crm.counters()["rate_limited"]["DAILY"] == 2


def test_rate_limit_headers_tell_the_window_and_what_remains(clock):
    with served(clock) as crm:
        headers = call(crm, "GET", OWNERS)[2]
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Remaining"]) == ("190", "189")


def test_injected_server_errors_come_first_then_normal_answers(clock):
    with served(clock) as crm:
        call(crm, "POST", "/_sandbox/faults", {"fail_next": [{"status": 503, "count": 2}, {"status": 502}]}, token=None)
        first, second, third, fourth = (call(crm, "GET", OWNERS) for _ in range(4))
        assert (first[0], first[1]["category"]) == (503, "SERVICE_UNAVAILABLE")
        assert second[0] == 503 and third[0] == 502 and "<html>" in third[1]  # a gateway's page, not JSON
        assert fourth[0] == 200 and crm.counters()["faults_injected"] == 3


def test_a_fault_can_target_one_path(clock):
    with served(clock) as crm:
        crm.faults.fail_next(500, path="/crm/v3/objects/contacts/batch/upsert")
        assert call(crm, "GET", OWNERS)[0] == 200
        status, body, _ = call(crm, "POST", "/crm/v3/objects/contacts/batch/upsert",
                               {"inputs": [{"id": "a@b.co", "idProperty": "email", "properties": {}}]})
        assert status == 500 and body["category"] == "INTERNAL_ERROR"


def test_latency_delays_every_api_answer(clock):
    with served(clock) as crm:
        crm.faults.latency_ms = 150
        started = time.monotonic()
        call(crm, "GET", OWNERS)
        assert time.monotonic() - started >= 0.15


def test_an_outage_refuses_connections_until_it_ends(clock):
    with served(clock) as crm:
        port = int(crm.url.rsplit(":", 1)[1])
        call(crm, "POST", "/_sandbox/faults", {"outage": {"seconds": 30, "mode": "refuse"}}, token=None)
        time.sleep(0.2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        crm.end_outage()
        assert call(crm, "GET", OWNERS)[0] == 200


def test_an_outage_ends_by_itself(clock):
    with served(clock) as crm:
        crm.outage(0.3, mode="refuse")
        with pytest.raises(OSError):  # refused, or reset if it was accepted while the listener closed
            urllib.request.urlopen(crm.url + OWNERS, timeout=2)
        time.sleep(0.6)
        assert call(crm, "GET", OWNERS)[0] == 200


def test_a_503_outage_answers_everything_503_but_control(clock):
    with served(clock) as crm:
        crm.outage(30, mode="503")
        assert call(crm, "GET", OWNERS)[0] == 503
        assert call(crm, "POST", "/crm/v3/objects/contacts/search", {})[0] == 503
        assert call(crm, "GET", "/_sandbox/counters", token=None)[0] == 200
        crm.end_outage()
        assert call(crm, "GET", OWNERS)[0] == 200


def test_requests_are_logged_with_their_bodies(clock):
    with served(clock) as crm:
        call(crm, "POST", "/crm/v3/objects/contacts/search", {"limit": 3})
        log = call(crm, "GET", "/_sandbox/requests?since=0", token=None)[1]
        assert log[-1]["path"] == "/crm/v3/objects/contacts/search" and log[-1]["body"] == {"limit": 3}
        assert json.dumps(log)  # plain JSON
