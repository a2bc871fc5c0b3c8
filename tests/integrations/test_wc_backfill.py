"""REST backfill from the sandbox store: every order once, in its state, resumable, and loud when it cannot read."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.models import SyncCursor, SyncRun
from integrations.woocommerce import intake
from integrations.woocommerce.backfill import store_backfill
from integrations.woocommerce.client import StoreClient, wc_datetime
from integrations.woocommerce.mappers import parse_gmt
from integrations.woocommerce.sandbox import SandboxStore
from lifecycle.models import ExceptionCase, ExceptionKind, Order, OrderSourceState, ReconcileWatermark
from tests.integrations.sync_fixtures import (  # noqa: F401 (fixtures)
    ACTOR, NOW, SYNC, WEBHOOKS, assert_landed_once, backfill, connect, console_states, expected_states,
    order_requests, sandbox, shop, sleeps, sync_failure,
)

pytestmark = pytest.mark.django_db


def test_backfill_reads_every_page_through_a_429_and_a_500(sandbox, shop, backfill, sleeps):
    # given a shop of 450 orders whose host rate-limits the first request and fails the third
    sandbox.faults.fail_next(429, retry_after=3)
    sandbox.faults.fail_at(3, status=500)
    # when the console backfills it
    run = backfill(shop)
    # then it waited as told (Retry-After 3 s, then backoff from 1 s) and read on
    assert sleeps == [3.0, 1.0]
    statuses = [r["status"] for r in sandbox.requests]
    assert statuses[:4] == [429, 200, 500, 200]
    # and every listed order landed exactly once, in its canonical state
    assert_landed_once(sandbox)
    visible = [o for o in sandbox.orders.values() if o["status"] != "trash"]
    drafts = sum(o["status"] == "checkout-draft" for o in visible)
    assert (run.status, run.orders_seen, run.applied, run.ignored, run.stale, run.failed) == (
        "succeeded", len(visible), len(visible) - drafts, drafts, 0, 0)
    assert run.pages >= 5
    # and every request asked for the oldest modification first, in GMT
    for query in order_requests(sandbox):
        assert (query["orderby"], query["order"], query["dates_are_gmt"], query["per_page"]) == (
            "modified", "asc", "true", "100")
    assert sync_failure(SYNC) is None


def test_a_crash_mid_page_resumes_from_the_cursor_without_duplicates(sandbox, shop, backfill, monkeypatch):
    # given a backfill whose worker dies on the third page, after applying its orders, before the commit
    real_apply, calls = intake.orders_apply, []

    def dying_apply(**kwargs):
        calls.append(len(kwargs["items"]))
        outcomes = real_apply(**kwargs)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return outcomes

    monkeypatch.setattr(intake, "orders_apply", dying_apply)
    with pytest.raises(RuntimeError):
        backfill(shop)
    crashed = SyncRun.objects.get()
    cursor = SyncCursor.objects.get(store=shop)
    # then only the two committed pages are in the console: the third rolled back with the crash
    assert (crashed.status, crashed.pages) == ("failed", 2)
    assert Order.objects.count() == crashed.applied > 0
    assert cursor.run is None and cursor.page == 1 and "worker killed" in cursor.last_error
    assert "RuntimeError: worker killed" in sync_failure(SYNC).summary and sync_failure(SYNC).is_open
    newest_committed = max(s.observed_at for s in OrderSourceState.objects.all())
    assert cursor.modified_after == newest_committed - timedelta(seconds=1)

    # when the next run starts with the worker healthy again
    monkeypatch.setattr(intake, "orders_apply", real_apply)
    mark = len(sandbox.requests)
    resumed = backfill(shop)
    # then it read on from the cursor, never from the first order again
    queries = order_requests(sandbox, mark)
    assert queries[0]["modified_after"] == wc_datetime(cursor.modified_after) and queries[0]["page"] == "1"
    assert all("modified_after" in q for q in queries)
    after_cursor = [o for o in sandbox.orders.values()
                    if o["status"] != "trash" and o["date_modified_gmt"] > wc_datetime(cursor.modified_after)]
    visible = [o for o in sandbox.orders.values() if o["status"] != "trash"]
    assert resumed.orders_seen == len(after_cursor) < len(visible)
    assert len(queries) == resumed.pages == 3
    # each order applied by exactly one of the two runs; what the cursor re-read was found unchanged
    assert crashed.applied + resumed.applied == len(expected_states(sandbox))
    assert resumed.stale == len(after_cursor) + crashed.orders_seen - len(visible)
    # and every order is there once, in its state; the failure is resolved
    assert resumed.status == "succeeded"
    assert_landed_once(sandbox)
    assert not sync_failure(SYNC).is_open


def test_retries_exhausted_open_sync_failure_and_the_next_run_resumes(sandbox, shop, sleeps):
    # given a host that answers 503 to every request after the second page, for longer than the retries last
    sandbox.faults.fail_at(3, 4, 5, status=503)
    client = StoreClient(shop, sleep=sleeps.append, max_tries=3)
    # when the backfill runs, it does not crash: the run fails and an exception says why
    run = store_backfill(store=shop, actor=ACTOR, client=client)
    assert (run.status, run.pages) == ("failed", 2)
    assert sleeps == [1.0, 1.0]  # the 503s' Retry-After
    problem = sync_failure(SYNC)
    assert problem.is_open and "failed 3 times" in problem.summary and "HTTP 503" in problem.summary
    # when the host is back, the next run reads on from the third page and resolves it
    mark = len(sandbox.requests)
    again = store_backfill(store=shop, actor=ACTOR, client=StoreClient(shop, sleep=sleeps.append))
    assert again.status == "succeeded" and len(order_requests(sandbox, mark)) == 3
    assert_landed_once(sandbox)
    problem.refresh_from_db()
    assert problem.status == "resolved"


def test_orders_changed_after_a_backfill_come_with_the_next_incremental_run(sandbox, shop, backfill):
    backfill(shop)
    # given the shop takes a payment, refunds part of a paid order, cancels one and gets a new order
    pending = sandbox.order_ids_with_status("pending")[0]
    paid = sandbox.order_ids_with_status("processing")[0]
    on_hold = sandbox.order_ids_with_status("on-hold")[0]
    sandbox.pay(pending)
    sandbox.refund(paid, "1.00")
    sandbox.cancel(on_hold)
    new = sandbox.create_order(customer_id=0, method="cod")["id"]
    # when the next run reads from the cursor
    mark = len(sandbox.requests)
    run = backfill(shop)
    # then it reads only the changes (plus the one boundary second it re-reads) and applies them
    assert len(order_requests(sandbox, mark)) == 1
    assert run.applied == 4 and run.orders_seen <= 6
    states = console_states()
    assert (states[str(pending)], states[str(paid)], states[str(on_hold)], states[str(new)]) == (
        "paid", "partially_refunded", "cancelled", "paid")
    assert_landed_once(sandbox)


def test_orders_changed_during_the_scan_shift_nothing_out_of_it(sandbox, shop, backfill):
    # given the shop refunds an order from the first page while the backfill is reading
    first_page = [o["id"] for o in sorted(sandbox.orders.values(), key=lambda o: (o["date_modified_gmt"], o["id"]))
                  if o["status"] == "completed"][:3]

    def shop_keeps_working(progress):
        if progress.page == 1:
            for order_id in first_page:
                sandbox.refund(order_id)  # each jumps to the end of the modified order

    backfill(shop, progress=shop_keeps_working)
    # then no order slipped between pages (offset paging would lose three here), and the refunds are in
    assert_landed_once(sandbox)
    assert {console_states()[str(i)] for i in first_page} == {"refunded"}


def test_a_page_that_shares_one_second_is_read_by_page_number(sandbox, shop, backfill):
    backfill(shop)
    # given 150 orders refunded within the same second (a bulk action in the shop's admin)
    changed = sandbox.order_ids_with_status("completed")[:150]
    assert len(changed) == 150
    for order_id in changed:
        sandbox.refund(order_id)
    mark = len(sandbox.requests)
    run = backfill(shop)
    # then the date could not move past that second, so the second page of it was asked for
    pages = [(q["modified_after"], q["page"]) for q in order_requests(sandbox, mark)]
    assert pages[-1] == (wc_datetime(parse_gmt(NOW) - timedelta(seconds=1)), "2")
    assert run.applied == 150
    assert all(console_states()[str(i)] == "refunded" for i in changed)


def test_refused_keys_open_sync_failure_with_the_query_string_auth_hint(sandbox, backfill):
    store = connect(sandbox.url, secret="cs_wrong")
    for _ in range(2):
        run = backfill(store)
        assert run.status == "failed"
    problem = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE, subject_key=SYNC)
    # one open exception however often the beat runs into it, saying what to do
    assert problem.is_open and problem.occurrences == 2
    assert "refused the API keys" in problem.summary and "query_string_auth" in problem.summary
    assert "401" in problem.evidence["error"]
    assert not Order.objects.exists() and SyncCursor.objects.get(store=store).run is None
    with pytest.raises(CommandError, match="query_string_auth"):
        call_command("sync_woocommerce", "--store", "sandbox", stdout=StringIO())


def test_a_host_that_strips_authorization_works_with_query_string_auth(monkeypatch, backfill):
    with SandboxStore.running(seed=3, orders=120, consumer_key="ck_test", consumer_secret="cs_test", now=NOW,
                              tls=True) as sandbox:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.cafile)
        sandbox.faults.strip_authorization = True
        store = connect(sandbox.url)
        # given an https shop whose host drops the Authorization header: Basic auth never arrives
        assert backfill(store).status == "failed"
        assert "query_string_auth" in sync_failure(SYNC).summary
        # when the store is switched to query-string keys
        store.query_string_auth = True
        store.save()
        run = backfill(store)
        # then the keys travel in the URL, the orders land and the failure is resolved
        assert run.status == "succeeded"
        assert all(q["consumer_key"] == "ck_test" for q in order_requests(sandbox)[-run.pages:])
        assert_landed_once(sandbox)
        assert not sync_failure(SYNC).is_open


def test_a_disabled_console_webhook_opens_sync_failure_until_it_is_active_again(sandbox, shop, backfill):
    ours = sandbox.create_webhook("order.updated", "https://console.example.com/webhooks/woocommerce/sandbox/",
                                  secret="whsec", ping=False)
    other = sandbox.create_webhook("order.updated", "https://erp.example.com/hooks/orders", ping=False)
    sandbox.update_webhook(other["id"], status="disabled")  # another system's: not ours to report
    assert backfill(shop).webhooks == {"console": [ours["id"]], "disabled": [], "paused": []}
    assert sync_failure(WEBHOOKS) is None
    # given WooCommerce disabled the console's webhook after failed deliveries
    sandbox.update_webhook(ours["id"], status="disabled")
    run = backfill(shop)
    problem = sync_failure(WEBHOOKS)
    assert run.status == "succeeded" and run.webhooks["disabled"] == [ours["id"]]
    assert problem.is_open and f"#{ours['id']}" in problem.summary
    assert problem.evidence["disabled_webhook_ids"] == [ours["id"]]
    # when someone re-activates it, the next run resolves the exception
    sandbox.update_webhook(ours["id"], status="active")
    backfill(shop)
    problem.refresh_from_db()
    assert problem.status == "resolved"


def test_a_backfill_that_applied_orders_has_reconciliation_compare_them_at_once(
        sandbox, shop, backfill, eager_tasks, django_capture_on_commit_callbacks):
    # when: a backfill brings the shop's orders in (tasks run as on the worker, after it commits)
    with django_capture_on_commit_callbacks(execute=True):
        run = backfill(shop)

    # then: reconciliation compared them without waiting for its beat
    assert run.applied
    mark = ReconcileWatermark.objects.get()
    assert mark.last_run_at is not None and mark.last_run_at >= run.started_at


def test_a_backfill_that_applied_nothing_queues_no_reconciliation(
        sandbox, shop, backfill, eager_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        backfill(shop)
    ReconcileWatermark.objects.all().delete()
    # when: the next run finds nothing new
    with django_capture_on_commit_callbacks(execute=True):
        assert backfill(shop).applied == 0
    # then: nothing was compared for it
    assert not ReconcileWatermark.objects.exists()
