"""The integrations' admin pages: stores (secrets write-only), deliveries (inspect, replay), status
mappings (through status_mapping_set), sync runs and cursors; who may do what; bounded query counts."""

from contextlib import nullcontext
from unittest import mock

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.celery import app as celery_app
from integrations.models import InboundEvent, StatusMapping, StoreConnection, SyncCursor, SyncRun
from integrations.stores import store_connect
from integrations.woocommerce import tasks
from integrations.woocommerce.status_mappings import status_mapping_set
from integrations.woocommerce.processing import inbound_event_process
from integrations.woocommerce.status_mappings import store_status_map
from integrations.woocommerce.signatures import compute_signature, php_json_encode
from integrations.woocommerce.wakeups import wakeups
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order
from tests.integrations.wc_fixtures import load

pytestmark = pytest.mark.django_db
S = InboundEvent.Status

CONSUMER_KEY = "ck_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
CONSUMER_SECRET = "cs_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
WEBHOOK_SECRET = "whsec-Plain-Text-Never-Shown-42"
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, WEBHOOK_SECRET)
DIALOG = {"_form_submitted": "True"}  # unfold's confirmation dialog form


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com",
                         consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, webhook_secret=WEBHOOK_SECRET,
                         actor=Actor.system("tests"))


@pytest.fixture
def deliver(django_capture_on_commit_callbacks, settings):
    """POST a payload as WooCommerce does (PHP-encoded, signed); processed inline unless queued=True."""

    def post(payload, topic="order.updated", *, body=None, signature=None, queued=False, delivery_id="d-1"):
        raw = body if body is not None else php_json_encode(payload)
        headers = {"HTTP_X_WC_WEBHOOK_TOPIC": topic, "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id,
                   "HTTP_X_WC_WEBHOOK_RESOURCE": topic.split(".")[0]}
        if signature is not False:
            headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = signature or compute_signature(raw, WEBHOOK_SECRET)
        # queued: the store's drain is never woken (a worker down), the delivery stays "received"
        left_queued = mock.patch.object(wakeups, "wake") if queued else nullcontext()
        celery_app.conf.task_always_eager = True
        try:
            with left_queued, django_capture_on_commit_callbacks(execute=True):
                return Client().post("/webhooks/woocommerce/main/", data=raw, content_type="application/json",
                                     **headers)
        finally:
            celery_app.conf.task_always_eager = False

    return post


def _event(store, status=S.PROCESSED, **fields):
    body = fields.pop("body", b'{"id": 1}')
    return InboundEvent.objects.create(store=store, topic=fields.pop("topic", "order.updated"), resource="order",
                                       resource_id=fields.pop("resource_id", "1"), body=body, body_sha256="x",
                                       status=status, headers={"X-Wc-Webhook-Topic": "order.updated"}, **fields)


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- who sees what ------------------------------------------------------------------------------
# (model, view) → expected status for (agent, manager, operations)
ACCESS = [
    (StoreConnection, "changelist", (403, 200, 200)),
    (StoreConnection, "add", (403, 403, 200)),
    (InboundEvent, "changelist", (403, 200, 200)),
    (InboundEvent, "change", (403, 200, 200)),
    (StatusMapping, "changelist", (200, 200, 200)),  # agents read the mappings (integrations/defaults.py)
    (StatusMapping, "add", (403, 200, 403)),
    (SyncRun, "changelist", (403, 200, 200)),
    (SyncRun, "change", (403, 200, 200)),
    (SyncCursor, "changelist", (403, 200, 200)),
]


@pytest.mark.parametrize("model, view, expected", ACCESS, ids=[f"{m.__name__}-{v}" for m, v, _ in ACCESS])
@pytest.mark.parametrize("role", ["support_agent", "manager", "operations"])
def test_each_role_reaches_what_its_group_grants(request, client_for, store, model, view, expected, role):
    run = SyncRun.objects.create(store=store)
    objects = {InboundEvent: _event(store), SyncRun: run}
    args = [objects[model].pk] if view == "change" else []
    response = client_for(request.getfixturevalue(role)).get(url(model, view, *args))
    assert response.status_code == expected[["support_agent", "manager", "operations"].index(role)]


def test_sidebar_lists_integrations_to_operations_not_to_agents(client_for, operations, support_agent):
    home = reverse("admin:integrations_storeconnection_changelist")
    page = client_for(operations).get(reverse("admin:integrations_statusmapping_changelist")).content.decode()
    assert home in page and "?attention=problems" in page
    assert reverse("admin:integrations_syncrun_changelist") in page
    page = client_for(support_agent).get(reverse("admin:integrations_statusmapping_changelist")).content.decode()
    assert home not in page and reverse("admin:integrations_inboundevent_changelist") not in page


# --- stores: secrets write-only -----------------------------------------------------------------
def _ciphertexts(store):
    with connection.cursor() as cursor:
        cursor.execute("SELECT consumer_key, consumer_secret, webhook_secret FROM integrations_storeconnection "
                       "WHERE id = %s", [store.pk])
        return cursor.fetchone()


def _assert_no_secret(response):
    assert response.status_code == 200
    html = response.content.decode()
    for secret in SECRETS:
        assert secret not in html


@pytest.mark.parametrize("role", ["operations", "manager"])  # the editable form and the read-only page
def test_secrets_never_appear_in_any_store_page(request, client_for, store, role):
    client = client_for(request.getfixturevalue(role))
    pages = [url(StoreConnection, "changelist"), url(StoreConnection, "change", store.pk),
             url(StoreConnection, "history", store.pk), url(InboundEvent, "change", _event(store).pk),
             url(StatusMapping, "changelist"), url(SyncRun, "change", SyncRun.objects.create(store=store).pk)]
    ciphertexts = _ciphertexts(store)
    assert all(ciphertexts) and CONSUMER_KEY not in ciphertexts  # encrypted at rest
    for page in pages:
        response = client.get(page)
        _assert_no_secret(response)
        assert not any(token in response.content.decode() for token in ciphertexts)
    change = client.get(url(StoreConnection, "change", store.pk)).content.decode()
    assert "ck_…1a0" not in change and "ck_…b1a0" in change  # the mask only: recognisable, not usable
    assert "http://testserver/webhooks/woocommerce/main/" in change


def test_operations_add_a_store_through_store_connect(client_for, operations):
    client = client_for(operations)
    with mock.patch("console.admin.integrations.store_connect", wraps=store_connect) as service:
        response = client.post(url(StoreConnection, "add"), {
            "name": "Second Shop", "slug": "", "base_url": "https://second.example.com/",
            "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "webhook_secret": WEBHOOK_SECRET,
        }, follow=True)
    assert service.call_args.kwargs["actor"].user == operations
    store = StoreConnection.objects.get(slug="second-shop")
    assert (store.base_url, store.consumer_key, store.webhook_secret) == (
        "https://second.example.com", CONSUMER_KEY, WEBHOOK_SECRET)
    assert any("http://testserver/webhooks/woocommerce/second-shop/" in m for m in _messages(response))
    _assert_no_secret(response)


def test_add_form_refuses_a_taken_slug_and_never_echoes_typed_secrets(client_for, operations, store):
    response = client_for(operations).post(url(StoreConnection, "add"), {
        "name": "Main", "slug": "main", "base_url": "https://x.example.com",
        "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET, "webhook_secret": WEBHOOK_SECRET,
    })
    assert response.status_code == 200 and "slug" in response.context["adminform"].form.errors
    _assert_no_secret(response)
    assert StoreConnection.objects.count() == 1


def _change_data(store, **changes):
    return {"name": store.name, "base_url": store.base_url, "is_active": "on", "consumer_key": "",
            "consumer_secret": "", "webhook_secret": "", **changes}


def test_an_empty_secret_field_keeps_the_stored_secret_a_typed_one_replaces_it(client_for, operations, store):
    client = client_for(operations)
    assert client.post(url(StoreConnection, "change", store.pk), _change_data(store, name="Renamed")).status_code == 302
    store.refresh_from_db()
    assert (store.name, store.consumer_key, store.consumer_secret, store.webhook_secret) == (
        "Renamed", CONSUMER_KEY, CONSUMER_SECRET, WEBHOOK_SECRET)

    client.post(url(StoreConnection, "change", store.pk), _change_data(store, webhook_secret="whsec-rotated-0001"))
    store.refresh_from_db()
    assert (store.webhook_secret, store.consumer_key) == ("whsec-rotated-0001", CONSUMER_KEY)
    # the admin's history names the field, never the value
    assert "whsec-rotated" not in LogEntry.objects.filter(object_id=str(store.pk)).latest("pk").change_message


def test_managers_read_stores_but_cannot_change_or_sync_them(client_for, manager, store):
    client = client_for(manager)
    assert client.post(url(StoreConnection, "change", store.pk), _change_data(store, name="X")).status_code == 403
    assert client.post(url(StoreConnection, "sync_now_detail", store.pk), DIALOG).status_code == 403
    store.refresh_from_db()
    assert store.name == "Main Shop"


def test_sync_now_enqueues_the_backfill_after_commit(client_for, operations, store, django_capture_on_commit_callbacks):
    client = client_for(operations)
    with mock.patch.object(tasks.backfill_store, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(url(StoreConnection, "sync_now_detail", store.pk), DIALOG,
                                   HTTP_HX_REQUEST="true")
        assert response.headers["HX-Redirect"] == url(StoreConnection, "change", store.pk)
        delay.assert_not_called()  # only once the request's transaction commits
        for callback in callbacks:
            callback()
        delay.assert_called_once_with(store.pk)

        with django_capture_on_commit_callbacks(execute=True):
            client.post(url(StoreConnection, "changelist"),
                        {"action": "sync_now", ACTION_CHECKBOX_NAME: [store.pk], "index": 0})
        assert delay.call_count == 2


# --- deliveries ---------------------------------------------------------------------------------
def test_a_delivery_page_shows_headers_and_the_body_pretty_printed(client_for, operations, store, deliver):
    wc_order = load("order_retrieve_response.json")
    wc_order["billing"]["first_name"] = "Zoë"
    deliver(wc_order, signature="AAAA")  # rejected: kept for operators with its reason
    event = InboundEvent.objects.get()
    assert event.status == S.REJECTED and b"\\u00eb" in bytes(event.body)  # PHP escapes it

    page = client_for(operations).get(url(InboundEvent, "change", event.pk)).content.decode()

    assert "signature does not match" in page and "X-Wc-Webhook-Topic" in page
    assert "&quot;first_name&quot;: &quot;Zoë&quot;" in page  # decoded, indented JSON
    assert "\n  &quot;id&quot;: 727," in page


def test_a_huge_or_broken_body_is_cut_and_shown_as_text(client_for, operations, store):
    huge = _event(store, S.MALFORMED, body=b"<html>" + b"x" * 200_000)
    page = client_for(operations).get(url(InboundEvent, "change", huge.pk)).content.decode()
    assert "&lt;html&gt;" in page and "cut: the first 65,536 of 200,006 bytes" in page and "x" * 70_000 not in page


def test_the_attention_view_lists_failed_rejected_and_malformed(client_for, operations, store):
    problems = {_event(store, status).pk for status in (S.FAILED, S.REJECTED, S.MALFORMED)}
    for status in (S.PROCESSED, S.DUPLICATE, S.IGNORED, S.RECEIVED):
        _event(store, status)
    response = client_for(operations).get(url(InboundEvent, "changelist"), {"attention": "problems"})
    assert {e.pk for e in response.context["cl"].result_list} == problems


def test_search_by_resource_or_delivery_id(client_for, operations, store):
    wanted = _event(store, resource_id="727", delivery_id="abc-1")
    _event(store, resource_id="7270", delivery_id="abc-10")
    for term in ("727", "abc-1"):
        response = client_for(operations).get(url(InboundEvent, "changelist"), {"q": term})
        assert [e.pk for e in response.context["cl"].result_list] == [wanted.pk]


def test_replaying_a_processed_delivery_changes_nothing(client_for, operations, store, deliver):
    deliver(load("order_retrieve_response.json"), topic="order.created")
    event = InboundEvent.objects.get()
    order = Order.objects.get()
    assert event.status == S.PROCESSED
    client = client_for(operations)

    with mock.patch("integrations.woocommerce.processing.inbound_event_process", wraps=inbound_event_process) as service:
        response = client.post(url(InboundEvent, "replay_detail", event.pk), DIALOG, follow=True)

    service.assert_called_once_with(event_id=event.pk, replay=True)
    assert any(m.startswith("Replayed 1: 1 stale") for m in _messages(response))
    assert Order.objects.get().updated_at == order.updated_at
    event.refresh_from_db()
    assert event.status == S.PROCESSED
    assert LogEntry.objects.get(object_id=str(event.pk)).change_message == "Replayed: Stale (older than stored state)"


def test_replaying_a_failed_delivery_processes_it(client_for, operations, store, deliver):
    deliver(load("order_retrieve_response.json"), topic="order.created", queued=True)
    event = InboundEvent.objects.get()
    InboundEvent.objects.filter(pk=event.pk).update(status=S.FAILED, reason="database was down", attempts=5)

    response = client_for(operations).post(url(InboundEvent, "changelist"), {
        "action": "replay", ACTION_CHECKBOX_NAME: [event.pk], "index": 0}, follow=True)

    event.refresh_from_db()
    assert event.status == S.PROCESSED and event.reason == "" and Order.objects.count() == 1
    assert any("1 processed" in m for m in _messages(response))


def test_a_failing_replay_keeps_the_delivery_failed_with_the_new_reason(client_for, operations, store):
    event = _event(store, S.FAILED, topic="order.updated", body=b'{"id": "not-a-number", "status": 5}')
    with mock.patch("integrations.woocommerce.processing.inbound_event_process", side_effect=RuntimeError("still broken")):
        response = client_for(operations).post(url(InboundEvent, "replay_detail", event.pk), DIALOG, follow=True)
    event.refresh_from_db()
    assert event.status == S.FAILED and event.reason == "still broken" and event.attempts == 1
    assert any("failed again: still broken" in m for m in _messages(response))


@pytest.mark.parametrize("status", [S.REJECTED, S.MALFORMED])
def test_rejected_and_malformed_deliveries_are_never_replayed(client_for, operations, store, status):
    event = _event(store, status)
    with mock.patch("integrations.woocommerce.processing.inbound_event_process") as service:
        response = client_for(operations).post(url(InboundEvent, "replay_detail", event.pk), DIALOG, follow=True)
    service.assert_not_called()
    assert any("not replayed" in m for m in _messages(response))


def test_managers_and_agents_cannot_replay(client_for, manager, support_agent, store):
    event = _event(store, S.FAILED)
    with mock.patch("integrations.woocommerce.processing.inbound_event_process") as service:
        assert client_for(manager).post(url(InboundEvent, "replay_detail", event.pk), DIALOG).status_code == 403
        client_for(manager).post(url(InboundEvent, "changelist"),
                                 {"action": "replay", ACTION_CHECKBOX_NAME: [event.pk], "index": 0})
        assert client_for(support_agent).post(url(InboundEvent, "replay_detail", event.pk),
                                              DIALOG).status_code == 403
    service.assert_not_called()
    page = client_for(manager).get(url(InboundEvent, "change", event.pk)).content.decode()
    assert url(InboundEvent, "replay_detail", event.pk) not in page


def test_nobody_edits_or_deletes_a_delivery(client_for, operations, store):
    event = _event(store, S.FAILED)
    client = client_for(operations)
    assert client.post(url(InboundEvent, "change", event.pk), {"status": "processed"}).status_code == 403
    assert client.post(url(InboundEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert InboundEvent.objects.get(pk=event.pk).status == S.FAILED


# --- status mappings ----------------------------------------------------------------------------
def test_a_manager_maps_a_status_through_the_service_and_waiting_orders_follow(client_for, manager, store, deliver):
    wc_order = load("order_retrieve_response.json")
    deliver(wc_order, topic="order.created")
    deliver({**wc_order, "date_modified_gmt": "2017-03-24T10:00:00", "status": "shipped"}, delivery_id="d-2")
    order = Order.objects.get()
    assert order.state == "paid"  # waits on the unmapped status
    client = client_for(manager)

    with mock.patch("console.admin.integrations.status_mapping_set", wraps=status_mapping_set) as service:
        response = client.post(url(StatusMapping, "add"),
                               {"store": store.pk, "raw_status": "wc-Shipped", "canonical": "shipped"}, follow=True)

    assert service.call_args.kwargs["actor"].user == manager
    mapping = StatusMapping.objects.get()
    assert (mapping.raw_status, mapping.canonical) == ("shipped", "shipped")
    order.refresh_from_db()
    assert order.state == "shipped"
    assert ExceptionCase.objects.get(kind="unmapped_status").status == "resolved"
    assert any("1 waiting order follows" in m for m in _messages(response))
    history = client.get(url(StatusMapping, "history", mapping.pk))
    assert history.status_code == 200 and manager.username in history.content.decode()


def test_changing_a_mapping_goes_through_the_service(client_for, manager, store):
    mapping = StatusMapping.objects.create(store=store, raw_status="shipped", canonical="shipped")
    assert store_status_map(store)["shipped"] == "shipped"
    with mock.patch("console.admin.integrations.status_mapping_set", wraps=status_mapping_set) as service:
        response = client_for(manager).post(url(StatusMapping, "change", mapping.pk), {"canonical": "delivered"})
    assert response.status_code == 302
    service.assert_called_once()
    assert service.call_args.kwargs["canonical"] == "delivered"
    assert StatusMapping.objects.get().canonical == "delivered"
    assert store_status_map(store)["shipped"] == "delivered"  # the per-process cache saw the change
    assert mapping.history.count() == 2


def test_agents_and_operations_cannot_change_mappings(client_for, support_agent, operations, store):
    mapping = StatusMapping.objects.create(store=store, raw_status="shipped", canonical="shipped")
    for user in (support_agent, operations):
        assert client_for(user).post(url(StatusMapping, "change", mapping.pk),
                                     {"canonical": "delivered"}).status_code == 403
    assert StatusMapping.objects.get().canonical == "shipped"


def test_a_duplicate_mapping_is_a_form_error(client_for, manager, store):
    StatusMapping.objects.create(store=store, raw_status="shipped", canonical="shipped")
    response = client_for(manager).post(url(StatusMapping, "add"),
                                        {"store": store.pk, "raw_status": " WC-SHIPPED ", "canonical": "delivered"})
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert StatusMapping.objects.get().canonical == "shipped"


# --- sync runs ----------------------------------------------------------------------------------
def test_sync_runs_and_cursor_are_listed_read_only(client_for, operations, store):
    run = SyncRun.objects.create(store=store, status=SyncRun.Status.FAILED, pages=3, orders_seen=250,
                                 error="401: keys refused", finished_at=timezone.now())
    SyncCursor.objects.create(store=store, run=run, last_run_at=timezone.now(), last_error="401")
    client = client_for(operations)
    page = client.get(url(SyncRun, "changelist")).content.decode()
    assert "401: keys refused" in page and "250" in page
    assert client.get(url(SyncCursor, "changelist")).status_code == 200
    assert "(last attempt failed)" in client.get(url(StoreConnection, "changelist")).content.decode()
    assert client.post(url(SyncRun, "change", run.pk), {"status": "succeeded"}).status_code == 403


# --- query counts -------------------------------------------------------------------------------
def _seed(start, stop):
    for i in range(start, stop):
        store = store_connect(name=f"Shop {i}", base_url=f"https://s{i}.example.com", consumer_key=CONSUMER_KEY,
                              consumer_secret=CONSUMER_SECRET, webhook_secret=WEBHOOK_SECRET,
                              actor=Actor.system("tests"))
        run = SyncRun.objects.create(store=store, pages=i)
        SyncCursor.objects.create(store=store, run=run)
        StatusMapping.objects.create(store=store, raw_status="shipped", canonical="shipped")
        _event(store, S.FAILED)
        _event(store, S.PROCESSED)


@pytest.mark.parametrize("model", [StoreConnection, InboundEvent, StatusMapping, SyncRun, SyncCursor])
def test_changelists_make_a_bounded_number_of_queries(client_for, operations, manager, model):
    client = client_for(operations if model is not StatusMapping else manager)
    _seed(0, 2)
    client.get(url(model, "changelist"))  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(model, "changelist")).status_code == 200
    _seed(2, 8)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url(model, "changelist")).status_code == 200
    assert len(many) == len(few) <= 12, [q["sql"] for q in many.captured_queries]
