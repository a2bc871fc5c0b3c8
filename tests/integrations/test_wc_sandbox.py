"""The sandbox WooCommerce store behaves like the real one where the console depends on it.

Plain pytest, no database: each test serves a store on 127.0.0.1 with an ephemeral port.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil

import pytest
import requests

from integrations.woocommerce.sandbox import SandboxStore, WebhookReceiver, php_json

KEY, SECRET = "ck_test", "cs_test"
NOW = "2025-06-01T12:00:00"
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "woocommerce")


@pytest.fixture
def store():
    with SandboxStore.running(seed=1, orders=250, consumer_key=KEY, consumer_secret=SECRET, now=NOW) as s:
        yield s


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def get(store, path, params=None, auth=(KEY, SECRET), **kwargs):
    return requests.get(f"{store.url}/wp-json/wc/v3/{path}", params=params, auth=auth, timeout=10, **kwargs)


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def expected_signature(body, secret):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# -- REST: paging and filters -------------------------------------------------------------------
def test_pagination_headers_and_link_follow_wordpress(store):
    visible = sum(1 for o in store.orders.values() if o["status"] != "trash")  # status=any hides trash

    first = get(store, "orders", {"per_page": 100})
    assert first.status_code == 200
    assert first.headers["X-WP-Total"] == str(visible)
    assert first.headers["X-WP-TotalPages"] == "3"
    assert first.headers["Link"] == f'<{store.url}/wp-json/wc/v3/orders?per_page=100&page=2>; rel="next"'

    middle = get(store, "orders", {"per_page": 100, "page": 2})
    assert middle.headers["Link"] == (f'<{store.url}/wp-json/wc/v3/orders?per_page=100&page=1>; rel="prev", '
                                      f'<{store.url}/wp-json/wc/v3/orders?per_page=100&page=3>; rel="next"')

    seen, url = [], first.url
    while url:  # follow rel="next" exactly as a client would
        page = requests.get(url, auth=(KEY, SECRET), timeout=10)
        seen += [o["id"] for o in page.json()]
        url = page.links.get("next", {}).get("url")
    assert len(seen) == len(set(seen)) == visible
    dates = [store.orders[i]["date_created_gmt"] for i in seen]
    assert dates == sorted(dates, reverse=True)  # default orderby=date, order=desc
    assert 'rel="next"' not in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]


def test_per_page_over_100_is_rejected_with_wordpress_error_shape(store):
    response = get(store, "orders", {"per_page": 101})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["message"] == "Invalid parameter(s): per_page"
    assert body["data"]["status"] == 400
    assert body["data"]["params"] == {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"}


def test_modified_after_ascending_by_modified_in_gmt(store):
    cut = sorted(o["date_modified_gmt"] for o in store.orders.values())[200]
    params = {"modified_after": cut, "orderby": "modified", "order": "asc", "dates_are_gmt": "true", "per_page": 100}
    rows = get(store, "orders", params).json()
    expected = sorted((o["date_modified_gmt"], o["id"]) for o in store.orders.values()
                      if o["date_modified_gmt"] > cut and o["status"] != "trash")
    assert [(o["date_modified_gmt"], o["id"]) for o in rows] == expected

    # The same instant in site time (the store runs at UTC-3, like the fixtures) selects the same rows.
    local_cut = next(o["date_modified"] for o in store.orders.values() if o["date_modified_gmt"] == cut)
    local = get(store, "orders", {**params, "modified_after": local_cut, "dates_are_gmt": "false"}).json()
    assert [o["id"] for o in local] == [o["id"] for o in rows]

    # A change bumps date_modified(_gmt) to the clock, so the order moves to the end of the sync window.
    moved = rows[0]["id"]
    store.clock.advance(60)
    store.update_order(moved, customer_note="Ring twice")
    again = get(store, "orders", params).json()
    assert again[-1]["id"] == moved
    assert again[-1]["date_modified_gmt"] == "2025-06-01T12:01:00"
    assert again[-1]["date_modified"] == "2025-06-01T09:01:00"


def test_missing_order_is_woocommerce_404(store):
    response = get(store, "orders/1")
    assert response.status_code == 404
    assert response.json() == {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.",
                               "data": {"status": 404}}


# -- REST: authentication ------------------------------------------------------------------------
def test_bad_or_missing_keys_get_401(store):
    cannot_list = {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                   "data": {"status": 401}}
    assert get(store, "orders", auth=None).json() == cannot_list
    unknown_key = get(store, "orders", auth=("ck_nobody", SECRET))
    assert unknown_key.status_code == 401 and unknown_key.json() == cannot_list
    wrong_secret = get(store, "orders", auth=(KEY, "cs_wrong"))
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["message"] == "Consumer secret is invalid."


def test_query_string_auth_works_when_the_host_strips_authorization(store):
    store.faults.strip_authorization = True
    assert get(store, "orders").status_code == 401  # Basic header never reaches "PHP"
    response = get(store, "orders", {"consumer_key": KEY, "consumer_secret": SECRET}, auth=None)
    assert response.status_code == 200
    # WordPress copies the request's query into Link, credentials included.
    assert "consumer_key=ck_test&consumer_secret=cs_test&page=2" in response.headers["Link"]
    # The same switch over HTTP, as a live demo would flip it.
    requests.post(f"{store.url}/__sandbox__/faults", json={"strip_authorization": False}, timeout=10)
    assert get(store, "orders").status_code == 200


def test_official_client_oauth1_over_plain_http(store):
    woocommerce = pytest.importorskip("woocommerce")
    client = woocommerce.API(url=store.url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3")
    response = client.get("orders", params={"per_page": 5, "status": "processing,completed"})
    assert response.status_code == 200 and len(response.json()) == 5
    wrong = woocommerce.API(url=store.url, consumer_key=KEY, consumer_secret="cs_wrong", version="wc/v3")
    assert wrong.get("orders").json()["message"] == "Invalid signature - provided signature does not match."


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a throwaway certificate")
def test_official_client_query_string_auth_over_tls():
    woocommerce = pytest.importorskip("woocommerce")
    with SandboxStore.running(seed=2, orders=30, consumer_key=KEY, consumer_secret=SECRET, tls=True) as tls_store:
        tls_store.faults.strip_authorization = True
        client = woocommerce.API(url=tls_store.url, consumer_key=KEY, consumer_secret=SECRET, version="wc/v3",
                                 query_string_auth=True, verify_ssl=tls_store.cafile)
        assert client.get("orders").status_code == 200


# -- REST: fault injection -----------------------------------------------------------------------
def test_injected_429_then_500_then_success(store):
    store.faults.fail_next(429, retry_after=2)
    store.faults.fail_next(500)
    throttled = get(store, "orders")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    crashed = get(store, "orders")
    assert crashed.status_code == 500 and crashed.json()["code"] == "internal_server_error"
    assert get(store, "orders").status_code == 200

    # Specific request numbers, set over HTTP.
    n = store.faults.request_count
    requests.post(f"{store.url}/__sandbox__/faults", json={"fail_at": {str(n + 2): 503}}, timeout=10)
    assert [get(store, "orders").status_code for _ in range(3)] == [200, 503, 200]


# -- Webhooks ------------------------------------------------------------------------------------
def create_webhook(store, topic, url, secret="whsec"):
    response = requests.post(f"{store.url}/wp-json/wc/v3/webhooks", auth=(KEY, SECRET), timeout=10,
                             json={"name": f"Aftercare {topic}", "topic": topic, "delivery_url": url,
                                   "secret": secret})
    assert response.status_code == 201, response.text
    return response.json()


def test_creating_a_webhook_sends_the_unsigned_ping(store, hook):
    webhook = create_webhook(store, "order.updated", hook.url)
    assert set(webhook) == set(fixture("webhook_retrieve_response.json"))
    ping, = hook.requests
    assert ping.body == f"webhook_id={webhook['id']}".encode()
    assert ping.header("Content-Type") == "application/x-www-form-urlencoded"
    assert not [name for name in ping.headers if name.lower().startswith("x-wc-")]
    assert get(store, f"webhooks/{webhook['id']}").json()["status"] == "active"


def test_delivery_is_signed_php_json_with_woocommerce_headers(store, hook):
    webhook = create_webhook(store, "order.updated", hook.url, secret="s3cr3t")
    zoe = next(c for c in store.customers.values() if c["first_name"] == "Zoë")
    order_id = store.create_order(customer_id=zoe["id"], method="bacs", initial=False)["id"]
    store.pay(order_id)

    results = store.deliver_pending()
    assert [(r["status"], r["resource_id"]) for r in results] == [(200, order_id)]
    delivery, = hook.deliveries()
    body = delivery.body
    assert hmac.compare_digest(delivery.header("X-WC-Webhook-Signature"), expected_signature(body, "s3cr3t"))
    assert b"\\/" in body and b"/" not in body.replace(b"\\/", b"")  # json_encode escapes every "/"
    assert b"Zo\\u00eb M" not in body and b'"Zo\\u00eb"' in body  # non-ASCII as \uXXXX
    assert body.isascii()
    assert json.loads(body) == get(store, f"orders/{order_id}").json()
    sent = dict(delivery.raw_headers)  # header names exactly as WooCommerce spells them
    assert sent["Content-Type"] == "application/json"
    assert sent["X-WC-Webhook-Source"] == store.url + "/"
    assert (sent["X-WC-Webhook-Topic"], sent["X-WC-Webhook-Resource"], sent["X-WC-Webhook-Event"]) == \
        ("order.updated", "order", "updated")
    assert sent["X-WC-Webhook-ID"] == str(webhook["id"])
    assert len(sent["X-WC-Webhook-Delivery-ID"]) == 32


def test_php_json_matches_php_escaping():
    assert php_json({"a": "Zoë/渡辺 🚪"}) == b'{"a":"Zo\\u00eb\\/\\u6e21\\u8fba \\ud83d\\udeaa"}'


def test_order_deleted_body_is_only_the_id(store, hook):
    create_webhook(store, "order.deleted", hook.url)
    order_id = next(i for i, o in store.orders.items() if o["status"] == "completed")
    store.trash(order_id)
    store.deliver_pending()
    delivery, = hook.deliveries()
    assert delivery.body == b'{"id":%d}' % order_id
    assert delivery.header("X-WC-Webhook-Event") == "deleted"
    trashed = get(store, f"orders/{order_id}").json()  # still readable, in the trash
    assert trashed["status"] == "trash"
    assert order_id not in [o["id"] for o in get(store, "orders", {"include": order_id}).json()]


def test_webhook_is_disabled_after_consecutive_failures():
    # WC_Webhook::failed_delivery disables when the count is already above the limit: with the
    # default limit 5 that is the 7th consecutive failure. The limit is configurable here.
    limit = 2
    with SandboxStore.running(seed=3, orders=40, consumer_key=KEY, consumer_secret=SECRET, now=NOW,
                              max_delivery_failures=limit) as store, WebhookReceiver(status=500) as hook:
        hook.statuses = [200]  # the ping succeeds
        webhook = create_webhook(store, "order.updated", hook.url)
        order_id = next(iter(store.orders))
        for attempt in range(1, limit + 3):
            store.update_order(order_id, customer_note=f"attempt {attempt}")
            (result,) = store.deliver_pending()
            assert result["status"] == 500
            expected = "disabled" if attempt == limit + 2 else "active"
            assert get(store, f"webhooks/{webhook['id']}").json()["status"] == expected
        listed = get(store, "webhooks", {"status": "disabled"}).json()
        assert [w["id"] for w in listed] == [webhook["id"]]
        store.update_order(order_id, customer_note="after")
        assert store.deliver_pending() == []  # a disabled webhook gets nothing


def test_queued_updates_coalesce_and_duplicates_repeat_the_same_delivery(hook):
    with SandboxStore.running(seed=4, orders=20, consumer_key=KEY, consumer_secret=SECRET, now=NOW,
                              duplicate_rate=1.0) as store:
        create_webhook(store, "order.updated", hook.url)
        order_id = store.create_order(customer_id=0, method="stripe", initial=False)["id"]
        store.pay(order_id)
        store.complete(order_id)  # two updates, one queued delivery (built when it runs)
        store.deliver_pending()
        first, second = hook.deliveries()
        assert first.body == second.body and json.loads(first.body)["status"] == "completed"
        assert first.header("X-WC-Webhook-Delivery-ID") == second.header("X-WC-Webhook-Delivery-ID")


# -- Data ----------------------------------------------------------------------------------------
def test_generated_orders_have_every_fixture_key(store):
    reference = fixture("order_retrieve_response.json")
    order = get(store, "orders", {"per_page": 1}).json()[0]
    assert set(order) == set(reference)
    assert list(order) == list(reference)  # same order of keys, too
    assert set(order["billing"]) == set(reference["billing"])
    assert set(order["shipping"]) == set(reference["shipping"])
    assert set(order["line_items"][0]) == set(reference["line_items"][0])
    customer = get(store, "customers", {"per_page": 1}).json()[0]
    assert list(customer) == list(fixture("customers_list_response.json")[0])


def test_data_mix_guests_registered_and_international_names(store):
    orders = list(store.orders.values())
    emails = {c["email"].lower() for c in store.customers.values()}
    assert any(o["customer_id"] == 0 for o in orders)
    assert any(o["customer_id"] for o in orders)
    assert any(o["customer_id"] == 0 and o["billing"]["email"].lower() in emails for o in orders)
    names = {f"{c['first_name']} {c['last_name']}" for c in store.customers.values()}
    assert {"Zoë Müller", "José Álvarez", "Łukasz Żółć", "美咲 渡辺"} <= names
    refunded = [o for o in orders if o["refunds"]]
    assert refunded and all(r["total"].startswith("-") for o in refunded for r in o["refunds"])
    assert all(o["number"] == str(o["id"]) for o in orders)
    assert all(o["date_created_gmt"] <= o["date_modified_gmt"] <= "2025-06-01T12:00:00" for o in orders)


def test_same_seed_same_store():
    a = SandboxStore(seed=7, orders=60, now=NOW)
    b = SandboxStore(seed=7, orders=60, now=NOW)
    assert [a.order_json(i) for i in a.orders] == [b.order_json(i) for i in b.orders]


def test_lifecycle_follows_woocommerce():
    store = SandboxStore(seed=5, orders=10, now=NOW, hold_stock_minutes=60)
    bacs = store.create_order(customer_id=0, method="bacs")
    assert bacs["status"] == "on-hold" and bacs["date_paid"] is None
    store.clock.advance(3600)
    store.pay(bacs["id"])
    paid = store.get_order(bacs["id"])
    assert paid["status"] == "processing" and paid["date_paid_gmt"] == "2025-06-01T13:00:00"
    store.complete(bacs["id"])
    store.refund(bacs["id"], "1.00", reason="Damaged in transit")
    partial = store.get_order(bacs["id"])
    assert partial["status"] == "completed" and partial["date_completed_gmt"] == "2025-06-01T13:00:00"
    assert partial["refunds"][0]["total"] == "-1.00" and partial["refunds"][0]["reason"] == "Damaged in transit"
    store.refund(bacs["id"])
    assert store.get_order(bacs["id"])["status"] == "refunded"

    cod = store.create_order(customer_id=0, method="cod")
    assert cod["status"] == "processing"
    unpaid = store.create_order(customer_id=0, method="stripe", via="checkout", initial=False)
    assert unpaid["status"] == "pending"
    store.clock.advance(61 * 60)
    store.cancel_unpaid()
    assert store.get_order(unpaid["id"])["status"] == "cancelled"

    store.trash(cod["id"])
    store.restore(cod["id"])
    assert store.get_order(cod["id"])["status"] == "processing"
    topics = [e["topic"] for e in store.events]
    assert {"order.created", "order.updated", "order.deleted", "order.restored"} <= set(topics)


def test_advance_moves_the_shop_and_bumps_modified():
    store = SandboxStore(seed=6, orders=300, now=NOW, new_orders_per_step=3, activity=0.2)
    before = {i: o["date_modified_gmt"] for i, o in store.orders.items()}
    changes = store.advance(3)
    assert changes > 0 and len(store.orders) > len(before)
    changed = [i for i, stamp in before.items() if store.orders[i]["date_modified_gmt"] != stamp]
    assert changed and all(store.orders[i]["date_modified_gmt"] > "2025-06-01T12:00:00" for i in changed)


def test_customers_endpoint_filters_and_pages(store):
    zoe = next(c for c in store.customers.values() if c["first_name"] == "Zoë")
    found = get(store, "customers", {"email": zoe["email"]})
    assert found.headers["X-WP-Total"] == "1" and found.json()[0]["id"] == zoe["id"]
    assert b'"Zo\\u00eb"' in found.content
    page = get(store, "customers", {"per_page": 20, "page": 2})
    assert page.headers["X-WP-TotalPages"] == str(-(-len(store.customers) // 20))
    assert 'rel="prev"' in page.headers["Link"]
    assert get(store, "customers", {"role": "administrator"}).json() == []
    missing = get(store, "customers/999999")
    assert missing.status_code == 404 and missing.json()["code"] == "woocommerce_rest_invalid_id"


def test_reordering_delivers_queued_events_out_of_order(hook):
    with SandboxStore.running(seed=8, orders=20, consumer_key=KEY, consumer_secret=SECRET, now=NOW,
                              reorder_rate=1.0) as store:
        create_webhook(store, "order.updated", hook.url)
        first, second = list(store.orders)[:2]
        store.update_order(first, customer_note="first")
        store.update_order(second, customer_note="second")
        store.deliver_pending()
        assert [json.loads(d.body)["id"] for d in hook.deliveries()] == [second, first]
