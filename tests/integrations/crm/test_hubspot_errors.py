"""What the client raises becomes a CrmError a caller can act on, and the pacer keeps its windows
(pure: built exceptions, a manual clock)."""

import json
import threading
from datetime import UTC, datetime

import pytest
import urllib3
from hubspot.crm.objects import ApiException
from hubspot.crm.owners import ApiException as OwnersApiException

from integrations.crm.base import CrmError
from integrations.crm.hubspot_errors import translate
from integrations.crm.pacing import Pacer, SlidingWindow, backoff
from integrations.crm.sandbox import ManualClock

NOW = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)


def api_error(status, body, headers=None, cls=ApiException):
    error = cls(status=status, reason="reason")
    error.body = json.dumps(body).encode() if isinstance(body, dict) else body
    error.headers = headers or {}
    return error


def test_statuses_map_to_kinds_with_retryability():
    cases = [(401, "auth", False), (404, "bad_request", False), (400, "bad_request", False), (500, "server", True),
             (502, "server", True), (429, "rate_limit", True)]
    for status, kind, retryable in cases:
        error = translate(api_error(status, {"message": "m"}), NOW)
        assert (error.kind, error.retryable, error.status) == (kind, retryable, status)


def test_every_api_package_exception_is_recognised():
    assert translate(api_error(401, {}, cls=OwnersApiException), NOW).kind == "auth"


def test_a_403_other_than_missing_scopes_is_an_auth_problem():
    error = translate(api_error(403, {"category": "FORBIDDEN", "message": "Portal is locked"}), NOW)
    assert error.kind == "auth" and "Portal is locked" in error.message


def test_429_waits_come_from_retry_after_in_seconds_or_as_a_date_else_from_the_policy():
    assert translate(api_error(429, {"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "3"}), NOW).retry_after == 3
    date = {"Retry-After": "Sun, 01 Jun 2025 22:00:07 GMT"}
    assert translate(api_error(429, {"policyName": "TEN_SECONDLY_ROLLING"}, date), NOW).retry_after == 7
    assert translate(api_error(429, {"policyName": "SECONDLY"}), NOW).retry_after == 1
    assert translate(api_error(429, {"policyName": "TEN_SECONDLY_ROLLING"}), NOW).retry_after == 10
    daily = translate(api_error(429, {"policyName": "DAILY"}), NOW)
    assert daily.retry_after == 2 * 3600 and daily.policy == "DAILY"


def test_a_body_that_is_not_json_still_gives_a_message():
    error = translate(api_error(502, b"<html><h1>502 Bad Gateway</h1></html>"), NOW)
    assert error.kind == "server" and "502" in error.message


def test_transport_failures_raw_or_wrapped():
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    assert translate(refused, NOW).kind == "unreachable"
    assert translate(urllib3.exceptions.MaxRetryError(None, "/x", refused), NOW).kind == "unreachable"
    slow = urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out")
    assert translate(slow, NOW, timeout=(5, 30)).message.startswith("HubSpot did not answer within 30 s")
    assert translate(urllib3.exceptions.ProtocolError("Connection aborted."), NOW).kind == "unreachable"
    assert translate(KeyError("not ours"), NOW) is None


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        CrmError("teapot", "no")


# -- pacing ---------------------------------------------------------------------------------------
def test_a_sliding_window_never_holds_more_than_its_limit():
    clock = ManualClock(0)
    window = SlidingWindow(5, 1.0, clock)
    slots = []
    for _ in range(20):
        slot = window.earliest()
        window.book(slot)
        slots.append(slot)
        clock.sleep(max(0.0, slot - clock()))
    assert all(sum(1 for s in slots if t - 1.0 + 1e-9 < s <= t) <= 5 for t in slots)
    assert all(b - a >= 0.2 - 1e-9 for a, b in zip(slots, slots[1:]))  # evenly spaced, no bursts


def test_the_pacer_keeps_90_percent_of_the_tier_and_holds_after_a_429():
    clock = ManualClock(0)
    pacer = Pacer.for_tier("starter", clock=clock, sleep=clock.sleep)
    assert pacer.limit == 90
    for _ in range(91):
        pacer.wait()
    assert clock() == pytest.approx(10.0, abs=0.2)
    pacer.hold(30)
    started = clock()
    pacer.wait()
    assert clock() - started == pytest.approx(30)
    with pytest.raises(ValueError):
        Pacer.for_tier("platinum")


def test_search_requests_also_wait_for_their_own_window():
    clock = ManualClock(0)
    pacer = Pacer(1000, clock=clock, sleep=clock.sleep)
    for _ in range(9):
        pacer.wait(search=True)
    assert clock() >= 2 * (1 / 0.9)  # four a (widened) second


def test_threads_sharing_a_pacer_get_distinct_slots():
    pacer = Pacer(100, window=0.2)  # 90 per 0.2 s: spacing 2.2 ms
    taken, lock = [], threading.Lock()

    def send():
        for _ in range(10):
            pacer.wait()
            with lock:
                taken.append(pacer.clock())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 40 and max(taken) - min(taken) >= 39 * 0.2 / 90 * 0.9


def test_backoff_doubles_up_to_a_cap():
    assert [backoff(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_daily_429_waits_until_midnight_in_the_accounts_time_zone():
    from zoneinfo import ZoneInfo
    # NOW is 22:00 UTC: 18:00 in New York (summer), six hours before its midnight
    daily = translate(api_error(429, {"policyName": "DAILY"}), NOW, zone=ZoneInfo("America/New_York"))
    assert daily.retry_after == 6 * 3600
