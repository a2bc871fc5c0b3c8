"""The HubSpot adapter under HubSpot's limits and failures, through the real client and the sandbox:
pacing keeps 429s away, a 429 is waited out (with and without Retry-After), 5xx and timeouts are
retried with backoff until they give up as a retryable CrmError, and the client retries nothing itself.
"""

import threading
from datetime import UTC, datetime

import pytest

from integrations.crm.base import ContactChange, CrmError
from integrations.crm.hubspot import HubSpotAdapter
from integrations.crm.pacing import Pacer
from integrations.crm.sandbox import ManualClock, SandboxCrm

TOKEN = "pat-test"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


@pytest.fixture
def clock():
    return ManualClock()


def served(clock, **options):
    return SandboxCrm.running(token=TOKEN, owners=2, monotonic=clock, **options)


def adapter_for(crm, clock, **options):
    options.setdefault("clock", clock)
    options.setdefault("sleep", clock.sleep)
    return HubSpotAdapter(TOKEN, base_url=crm.url, index_lag_seconds=0, **options)


def unpaced(clock):
    """A pacer that lets everything through: the sandbox's limit is what the test meets."""
    return Pacer(100_000, search_per_second=0, clock=clock, sleep=clock.sleep)


# -- pacing ---------------------------------------------------------------------------------------
def test_400_requests_at_the_professional_limit_meet_no_429(clock):
    with served(clock, tier="professional") as crm:
        adapter = adapter_for(crm, clock, tier="professional")
        started = clock()
        for _ in range(400):
            adapter.lifecycle_stages()
        assert crm.counters()["requests"] == 400 and crm.counters()["rate_limited_total"] == 0
        assert clock() - started >= 20  # 171 per ten seconds: the pacer did make them wait


def test_searches_are_paced_to_four_a_second(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock)
        started = clock()
        for _ in range(40):
            list(adapter.changed("contacts", datetime(2025, 1, 1, tzinfo=UTC)))
        assert crm.counters()["rate_limited_total"] == 0
        assert clock() - started >= 9


def test_pacing_holds_with_real_time_and_threads_sharing_one_pacer():
    with SandboxCrm.running(token=TOKEN, per_window=20, window_seconds=0.5) as crm:
        pacer = Pacer(20, window=0.5)  # 18 per half second
        adapters = [HubSpotAdapter(TOKEN, base_url=crm.url, pacer=pacer) for _ in range(3)]
        threads = [threading.Thread(target=lambda a=a: [a.lifecycle_stages() for _ in range(20)]) for a in adapters]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert crm.counters()["requests"] == 60 and crm.counters()["rate_limited_total"] == 0


# -- 429 ------------------------------------------------------------------------------------------
def test_a_429_without_retry_after_waits_out_the_ten_second_window(clock):
    with served(clock, tier="professional") as crm:
        adapter = adapter_for(crm, clock, pacer=unpaced(clock))
        for _ in range(190):
            adapter.lifecycle_stages()
        started = clock()
        assert len(adapter.lifecycle_stages()) == 8  # refused once, then answered
        assert crm.counters()["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}
        assert clock() - started == pytest.approx(10, abs=0.01)


def test_a_429_with_retry_after_waits_what_it_says(clock):
    with served(clock, tier="starter", retry_after="window") as crm:
        adapter = adapter_for(crm, clock, pacer=unpaced(clock))
        for _ in range(60):
            adapter.lifecycle_stages()
        clock.sleep(4)
        for _ in range(40):
            adapter.lifecycle_stages()
        started = clock()
        adapter.upsert_contacts([ContactChange("ann@example.com", {"firstname": "Ann"})])
        assert clock() - started == pytest.approx(6, abs=0.01)  # the sandbox said 6 s, not the whole window
        assert crm.counters()["rate_limited_total"] == 1 and crm.contact("ann@example.com")


def test_the_daily_limit_is_raised_at_once_with_the_time_until_midnight(clock):
    late = datetime(2025, 6, 1, 23, 59, 0, tzinfo=UTC)
    with served(clock, daily=2) as crm:
        adapter = adapter_for(crm, clock, now=lambda: late)
        adapter.lifecycle_stages(), adapter.lifecycle_stages()
        with pytest.raises(CrmError) as caught:
            adapter.lifecycle_stages()
        error = caught.value
        assert (error.kind, error.policy, error.retryable, error.retry_after) == ("rate_limit", "DAILY", True, 60)
        assert "daily limit" in error.message and crm.counters()["rate_limited_total"] == 1


# -- 5xx, timeouts, outages ------------------------------------------------------------------------
def test_server_errors_are_retried_with_backoff_then_succeed(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock)
        crm.faults.fail_next(503, count=2, path=UPSERT)
        crm.faults.fail_next(502, count=1, path=UPSERT)  # a gateway's HTML page, not JSON
        result = adapter.upsert_contacts([ContactChange("ann@example.com", {"firstname": "Ann"})])
        assert len(result.ok) == 1 and [r["status"] for r in crm.requests_to(UPSERT)] == [503, 503, 502, 200]
        assert clock.slept == pytest.approx(0.5 + 1 + 2)


def test_when_retries_run_out_the_error_is_retryable_for_the_caller(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock, max_retries=4)
        crm.faults.fail_next(500, count=10)
        with pytest.raises(CrmError) as caught:
            adapter.upsert_contacts([ContactChange("ann@example.com", {})])
        assert caught.value.kind == "server" and caught.value.retryable and caught.value.status == 500
        assert "sent again" in caught.value.message
        assert len(crm.requests_to(UPSERT)) == 5  # the first try and four retries


def test_a_slow_answer_is_a_timeout_retried_then_raised(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock, timeout=(2.0, 0.2), max_retries=1)
        crm.faults.latency_ms = 600
        with pytest.raises(CrmError) as caught:
            adapter.upsert_contacts([ContactChange("ann@example.com", {})])
        assert caught.value.kind == "timeout" and caught.value.retryable
        assert "did not answer within 0.2 s" in caught.value.message
        assert adapter.requests == 2


def test_an_outage_is_unreachable_and_a_retry_after_it_ends_succeeds(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock, max_retries=1)
        crm.outage(60, mode="refuse")
        with pytest.raises(CrmError) as caught:
            adapter.owners()
        assert caught.value.kind == "unreachable" and caught.value.retryable

        def sleep_while_it_recovers(seconds):
            crm.end_outage()
            clock.sleep(seconds)

        crm.outage(60, mode="refuse")
        recovering = adapter_for(crm, clock, sleep=sleep_while_it_recovers, max_retries=1)
        assert len(recovering.owners()) == 2


def test_a_503_outage_is_a_server_error(clock):
    with served(clock) as crm:
        crm.outage(60, mode="503")
        with pytest.raises(CrmError) as caught:
            adapter_for(crm, clock, max_retries=0).lifecycle_stages()
        assert caught.value.kind == "server" and caught.value.status == 503


def test_the_client_retries_nothing_on_its_own(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock, max_retries=0)
        pool = adapter._batch.api_client.rest_client.pool_manager
        assert pool.connection_pool_kw["retries"].total is False  # urllib3 raises at once
        crm.faults.fail_next(503, path=UPSERT)
        with pytest.raises(CrmError):
            adapter.upsert_contacts([ContactChange("ann@example.com", {})])
        assert len(crm.requests_to(UPSERT)) == 1


def test_a_call_that_is_not_idempotent_is_never_retried(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock)
        crm.faults.fail_next(503)
        with pytest.raises(CrmError) as caught:
            adapter._call(adapter._owners.get_page, limit=1, idempotent=False)
        assert caught.value.kind == "server" and crm.counters()["requests"] == 1
