"""The ways a backfill is started (command, beat task) and what the REST client does with a failing store."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.models import SyncCursor, SyncRun
from integrations.woocommerce.backfill import SyncBusy
from integrations.woocommerce import client as client_module
from integrations.woocommerce.client import (
    MAX_WAIT,
    StoreClient,
    StoreRequestError,
    StoreUnavailable,
    wc_datetime,
)
from integrations.woocommerce.tasks import sync_woocommerce_stores
from integrations.stores import store_connect
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order, TimelineEvent
from tests.integrations.sync_fixtures import (  # noqa: F401 (fixtures)
    assert_landed_once, backfill, connect, order_requests, sandbox, shop, sleeps,
)

pytestmark = pytest.mark.django_db


def sync(*args):
    out = StringIO()
    call_command("sync_woocommerce", *args, stdout=out)
    return out.getvalue()


def test_the_command_shows_progress_page_by_page_and_a_summary(sandbox, shop):
    output = sync("--store", "sandbox")
    run = SyncRun.objects.get()
    lines = output.splitlines()
    bars = [line for line in lines if line.startswith("page ")]
    # one progress line per committed page, ending on a full bar
    assert len(bars) == run.pages >= 5
    assert bars[0].startswith(f"page 1/{run.pages} [") and "100 orders" in bars[0]
    assert bars[-1] == f"page {run.pages}/{run.pages} [{'#' * 30}] {run.orders_seen:,} orders"
    assert f"Sync run {run.pk} of Sandbox Shop done: {run.orders_seen:,} orders on {run.pages} pages" in output
    assert f"{run.applied:,} applied, 0 unchanged (not newer), {run.ignored} ignored, 0 unreadable" in output
    assert "webhooks to this console: 0, none points at this console" in output
    assert_landed_once(sandbox)


def test_since_rereads_from_that_date_and_changes_nothing_already_there(sandbox, shop):
    sync("--store", "sandbox")
    events = TimelineEvent.objects.count()
    since = sorted(o["date_modified_gmt"] for o in sandbox.orders.values() if o["status"] != "trash")[-120]
    mark = len(sandbox.requests)
    output = sync("--store", "sandbox", "--since", since + "Z")
    again = SyncRun.objects.first()
    # inclusive for the operator: modified_after (exclusive) is sent one second earlier
    first = order_requests(sandbox, mark)[0]
    assert first["modified_after"] == wc_datetime(timezone.datetime.fromisoformat(since) - timedelta(seconds=1))
    assert again.orders_seen >= 120 and again.stale == again.orders_seen and again.applied == 0
    assert TimelineEvent.objects.count() == events  # a repair of unchanged orders writes nothing
    assert "0 applied" in output


def test_the_command_refuses_an_unknown_store_or_a_bad_date(shop):
    with pytest.raises(CommandError, match="No store with the slug 'nope' \\(connected: sandbox\\)"):
        sync("--store", "nope")
    with pytest.raises(CommandError, match="not an ISO date"):
        sync("--store", "sandbox", "--since", "last tuesday")
    assert not SyncRun.objects.exists()


def test_a_live_run_holds_the_cursor_and_a_dead_one_is_taken_over(sandbox, shop, backfill):
    # given a run that is still committing pages
    live = SyncRun.objects.create(store=shop, status=SyncRun.Status.RUNNING)
    SyncCursor.objects.create(store=shop, run=live)
    with pytest.raises(SyncBusy):
        backfill(shop)
    with pytest.raises(CommandError, match="already running"):
        sync("--store", "sandbox")
    # when its worker died long ago (no page for longer than the lease), the next run takes over
    SyncRun.objects.filter(pk=live.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    run = backfill(shop)
    live.refresh_from_db()
    assert run.status == "succeeded"
    assert live.status == "abandoned" and f"run {run.pk} resumed" in live.error
    assert SyncCursor.objects.get(store=shop).run is None


def test_the_beat_task_backfills_each_active_store(sandbox, shop, eager_tasks):
    paused = store_connect(name="Paused Shop", base_url=sandbox.url, consumer_key="ck_test", consumer_secret="cs_test",
                           webhook_secret="whsec", actor=Actor.system("tests"))
    paused.is_active = False
    paused.save()
    assert sync_woocommerce_stores() == 1
    assert list(SyncRun.objects.values_list("store__slug", "status")) == [("sandbox", "succeeded")]
    assert Order.objects.filter(namespace="sandbox").exists()
    entry = settings.CELERY_BEAT_SCHEDULE["sync-woocommerce-stores"]
    assert entry == {"task": "integrations.woocommerce.tasks.sync_woocommerce_stores", "schedule": 900.0}


# -- the client on its own --------------------------------------------------------------------------
def test_retry_after_is_honoured_up_to_a_cap(sandbox, shop, sleeps):
    sandbox.faults.fail_next(429, retry_after=3600)
    page = StoreClient(shop, sleep=sleeps.append).order_page()
    assert sleeps == [MAX_WAIT] and len(page.orders) == 100 and page.total_pages >= 5


def test_a_refused_request_is_not_retried_and_carries_woocommerces_code(sandbox, shop, sleeps):
    sandbox.faults.fail_next(404)
    with pytest.raises(StoreRequestError, match="HTTP 404 sandbox_fault: Injected status 404") as refused:
        StoreClient(shop, sleep=sleeps.append).order_page()
    assert refused.value.code == "sandbox_fault" and sleeps == []


def test_no_connection_is_retried_with_growing_backoff_then_given_up(db, sleeps):
    store = connect("http://127.0.0.1:9")  # the discard port: nothing listens
    client = StoreClient(store, sleep=sleeps.append, max_tries=4)
    with pytest.raises(StoreUnavailable, match="failed 4 times, last with no answer"):
        client.order_page()
    assert sleeps == [1.0, 2.0, 4.0] and client.requests == 4


def test_dates_go_out_as_naive_utc_whole_seconds():
    aware = timezone.datetime(2025, 6, 1, 9, 30, 15, 999, tzinfo=timezone.get_fixed_timezone(-180))
    assert wc_datetime(aware) == "2025-06-01T12:30:15"


def test_an_unreadable_order_opens_its_own_exception_and_the_rest_land(sandbox, shop, backfill, monkeypatch):
    real_page = client_module.StoreClient.order_page

    def with_a_broken_order(self, **kwargs):
        page = real_page(self, **kwargs)
        for order in page.orders:
            if order["id"] == broken:
                order["total"] = "twelve"
        return page

    broken = sorted(sandbox.orders)[10]
    monkeypatch.setattr(client_module.StoreClient, "order_page", with_a_broken_order)
    run = backfill(shop)
    assert run.status == "succeeded" and run.failed == 1
    assert not Order.objects.filter(external_id=str(broken)).exists()
    case = ExceptionCase.objects.get(subject_key=f"store:sandbox/order:{broken}")
    assert case.is_open and "total" in case.summary


def test_iterating_pages_follows_x_wp_totalpages(sandbox, shop):
    pages = list(StoreClient(shop).iter_order_pages())
    visible = sum(o["status"] != "trash" for o in sandbox.orders.values())
    assert [number for number, _, _ in pages] == list(range(1, pages[0][1] + 1))
    assert sum(len(orders) for _, _, orders in pages) == visible


def test_connection_errors_never_quote_the_keys(db, sleeps):
    store = connect("https://127.0.0.1:9", query_string_auth=True)  # keys travel in the URL
    with pytest.raises(StoreUnavailable) as unavailable:
        StoreClient(store, sleep=sleeps.append, max_tries=1).order_page()
    assert "consumer_secret=[hidden]" in str(unavailable.value) and "cs_test" not in str(unavailable.value)
