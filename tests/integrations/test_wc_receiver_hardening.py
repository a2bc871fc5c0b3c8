"""The webhook receiver against hostile input: bodies over the size limit, error pages that must not
show the store's secrets, and JSON nested deeper than WooCommerce can write (issue 16, item 5)."""

import io
import json
import logging

import pytest
from django.test import Client, RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from integrations.models import InboundEvent, StoreConnection
from integrations.stores import store_connect
from integrations.woocommerce import draining, webhooks
from integrations.woocommerce.processing import inbound_event_process
from integrations.woocommerce.signatures import MAX_DEPTH, compute_signature, nesting_depth, php_json_encode
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, Order
from tests.integrations.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db
S = InboundEvent.Status
URL = "/webhooks/woocommerce/main/"
CONSUMER_SECRET = "cs_live_3b9d0c2e8f7a6e5d4c3b2a19"
DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.fixture
def store(db):
    """The conftest's store, with a consumer secret no page could show by chance."""
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com",
                         consumer_key="ck_live_5e4d3c2b1a", consumer_secret=CONSUMER_SECRET,
                         webhook_secret=WEBHOOK_SECRET, actor=Actor.system("tests"))


def signed(raw, topic="order.updated", **extra):
    return {"HTTP_X_WC_WEBHOOK_TOPIC": topic, "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "d-9",
            "HTTP_X_WC_WEBHOOK_SIGNATURE": compute_signature(raw, WEBHOOK_SECRET), **extra}


class Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, size=-1):
        raise AssertionError("the receiver read a body it should have refused unread")

    readline = read


class Counting(io.BytesIO):
    """A streamed body (no Content-Length, as under ASGI or a server passing chunked bodies on)."""

    def __init__(self, data):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def refuse_secret_loading(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the store's secret was loaded for a body over the limit")

    monkeypatch.setattr(webhooks, "_active_store", fail)


# --- the size limit -------------------------------------------------------------------------------
def test_a_body_declared_over_the_limit_is_refused_unread_with_413_and_recorded(client, store, settings,
                                                                                 monkeypatch):
    settings.AFTERCARE_WEBHOOK_MAX_BYTES = 1_000
    refuse_secret_loading(monkeypatch)

    response = client.post(URL, data=b"{}", content_type="application/json",
                           **signed(b"{}", CONTENT_LENGTH="5000000", **{"wsgi.input": Unreadable()}))

    assert response.status_code == 413
    assert "1,000 bytes" in response.json()["error"]
    event = InboundEvent.objects.get()
    assert event.status == S.REJECTED and event.store == store
    assert event.reason == "body too large (5,000,000 bytes declared; the limit is 1,000): not kept"
    assert bytes(event.body) == b""  # a flood of large bodies costs a small row each
    assert (event.topic, event.delivery_id) == ("order.updated", "d-9")


def test_an_unsigned_post_over_the_default_limit_gets_413_even_with_debug_on(client, store, settings):
    # the case: over 2.5 MB, unsigned, DEBUG on (make run): the answer is a 413, not an error page
    settings.DEBUG = True
    raw = b"x" * (settings.AFTERCARE_WEBHOOK_MAX_BYTES + 1)
    response = Client(raise_request_exception=False).post(URL, data=raw, content_type="application/json")
    assert response.status_code == 413
    assert WEBHOOK_SECRET not in response.content.decode()
    assert InboundEvent.objects.get().status == S.REJECTED


def test_a_streamed_body_is_read_no_further_than_the_limit(store, settings, monkeypatch):
    settings.AFTERCARE_WEBHOOK_MAX_BYTES = 1_000
    refuse_secret_loading(monkeypatch)
    request = RequestFactory().post(URL, data=b"", content_type="application/json",
                                    **signed(b"", HTTP_TRANSFER_ENCODING="chunked"))
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = stream = Counting(b"[" * 50_000)

    response = webhooks.receive(request, store_slug="main")

    assert response.status_code == 413
    assert stream.taken == 1_001
    event = InboundEvent.objects.get()
    assert event.status == S.REJECTED and "more than 1,000 bytes sent" in event.reason
    assert bytes(event.body) == b""


def test_a_streamed_body_within_the_limit_is_read_whole_and_accepted(store, wc_order):
    raw = php_json_encode(wc_order)
    request = RequestFactory().post(URL, data=b"", content_type="application/json", **signed(raw))
    request.META.pop("CONTENT_LENGTH", None)
    request._stream = Counting(raw)

    response = webhooks.receive(request, store_slug="main")

    assert response.status_code == 200
    assert bytes(InboundEvent.objects.get().body) == raw


def test_a_body_over_the_limit_for_an_unknown_store_is_413_and_nothing_is_stored(client, store, settings):
    settings.AFTERCARE_WEBHOOK_MAX_BYTES = 10
    response = client.post("/webhooks/woocommerce/nope/", data=b"x" * 11, content_type="application/json")
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def test_a_body_at_the_limit_is_accepted(deliver, store, settings, wc_order):
    raw = php_json_encode(wc_order)
    settings.AFTERCARE_WEBHOOK_MAX_BYTES = len(raw)
    assert deliver(None, body=raw).status_code == 200
    assert InboundEvent.objects.get().status == S.PROCESSED


# --- secrets never shown ----------------------------------------------------------------------------
def _boom(*args, **kwargs):
    raise RuntimeError("forced failure inside the receiver")


@pytest.mark.parametrize("target", ["verify_signature", "load_body", "_store"])
def test_the_debug_error_page_and_the_log_never_show_the_stores_secrets(store, settings, monkeypatch, caplog,
                                                                        wc_order, target):
    # given DEBUG on (make run's default) and a failure after the store and its secret were loaded:
    # in the signature check itself (its arguments hold the secret), reading the body, storing it
    settings.DEBUG = True
    monkeypatch.setattr(webhooks, target, _boom)
    raw = php_json_encode(wc_order)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = Client(raise_request_exception=False).post(URL, data=raw, content_type="application/json",
                                                               **signed(raw))

    # then Django's technical page answers, with its frames, and no secret in it
    page = response.content.decode()
    assert response.status_code == 500 and "forced failure inside the receiver" in page
    assert "Local vars" in page and "receive" in page
    [record] = [r for r in caplog.records if r.name == "django.request"]
    logged = logging.Formatter("%(message)s").format(record)
    assert "forced failure" in logged
    for secret in (WEBHOOK_SECRET, CONSUMER_SECRET, "ck_live_5e4d3c2b1a"):
        assert secret not in page, secret
        assert secret not in logged, secret


def test_secrets_read_from_the_database_print_as_their_mask():
    store = StoreConnection(name="Main Shop", slug="main", base_url="https://shop.example.com",
                            consumer_key="ck_live_5e4d3c2b1a", consumer_secret=CONSUMER_SECRET,
                            webhook_secret=WEBHOOK_SECRET)
    store.save()
    loaded = StoreConnection.objects.get(pk=store.pk)
    # in every use the value itself
    assert loaded.webhook_secret == WEBHOOK_SECRET and f"{loaded.consumer_secret}" == CONSUMER_SECRET
    assert loaded.webhook_secret.encode() == WEBHOOK_SECRET.encode()
    # but in reprs (what error pages print of locals) the mask
    shown = " ".join([repr(loaded), str(loaded), repr(loaded.__dict__), repr(webhooks._load_store("main")),
                      repr([loaded.consumer_key, loaded.consumer_secret, loaded.webhook_secret])])
    for secret in (WEBHOOK_SECRET, CONSUMER_SECRET, "ck_live_5e4d3c2b1a"):
        assert secret not in shown, secret
    assert "whs…7f3a" in shown


def test_secrets_typed_into_the_store_form_stay_out_of_the_debug_page(operations, settings, monkeypatch):
    # given a failure while a new store is being connected from the admin, with DEBUG on
    import console.admin.integrations as store_admin

    settings.DEBUG = True
    monkeypatch.setattr(store_admin, "store_connect", _boom)
    client = Client(raise_request_exception=False)
    client.force_login(operations)
    response = client.post("/admin/integrations/storeconnection/add/", {
        "name": "Second Shop", "base_url": "https://second.example.com", "consumer_key": "ck_typed_0a1b2c3d4e",
        "consumer_secret": "cs_typed_9z8y7x6w5v", "webhook_secret": "whsec_typed_q1w2e3r4",
    })
    page = response.content.decode()
    assert response.status_code == 500 and "forced failure" in page
    for secret in ("ck_typed_0a1b2c3d4e", "cs_typed_9z8y7x6w5v", "whsec_typed_q1w2e3r4"):
        assert secret not in page, secret


# --- deeply nested JSON -----------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    DEEP,
    b"[" * 10_000,  # not even closed
    b'{"id": 727, "meta_data": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",
], ids=["10000-levels", "unclosed", "one-level-too-deep-inside-an-order"])
def test_json_nested_deeper_than_woocommerce_writes_is_400_and_kept_as_malformed(deliver, store, raw):
    response = deliver(None, body=raw)
    assert response.status_code == 400
    assert "nested" in response.json()["error"]
    event = InboundEvent.objects.get()
    assert event.status == S.MALFORMED and "nested" in event.reason
    assert bytes(event.body) == raw
    assert not Order.objects.exists()


def _depth(value):
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max(map(_depth, children), default=0)


TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/ a\u00eb\n'), max_size=8)
JSON_VALUES = st.recursive(st.none() | st.integers() | TRICKY_TEXT,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
                           max_leaves=20)


@given(JSON_VALUES)
def test_the_depth_is_measured_outside_strings_as_php_and_python_write_them(value):
    # brackets, quotes and backslashes inside strings never count
    assert nesting_depth(php_json_encode(value)) == _depth(value)
    assert nesting_depth(json.dumps(value, ensure_ascii=False, indent=1).encode()) == _depth(value)


def test_nesting_within_what_woocommerce_writes_is_accepted(deliver, store, wc_order):
    nested = 1
    for _ in range(MAX_DEPTH - 3):  # the order, meta_data and its entry are three levels
        nested = [nested]
    payload = {**wc_order, "meta_data": [{"id": 1, "key": "_plugin", "value": nested}]}
    assert deliver(payload).status_code == 200
    assert InboundEvent.objects.get().status == S.PROCESSED


def test_the_stored_deep_delivery_opens_in_the_admin(deliver, store, operations, client):
    deliver(None, body=DEEP)
    event = InboundEvent.objects.get()
    client.force_login(operations)
    response = client.get(f"/admin/integrations/inboundevent/{event.pk}/change/")
    assert response.status_code == 200
    assert "nested" in response.content.decode()


def _waiting(store, raw, topic="order.updated", **fields):
    """A delivery stored as waiting whose body cannot be read (one stored before the receiver
    checked the depth, or by hand): what the drain and the task must survive."""
    return InboundEvent.objects.create(store=store, topic=topic, resource=topic.split(".")[0], body=raw,
                                       body_sha256="-", status=S.RECEIVED, **fields)


def test_the_drain_ends_an_unreadable_waiting_delivery_as_malformed_and_applies_its_neighbours(
        receive, store, wc_order, caplog):
    before = receive({**wc_order, "date_modified_gmt": "2017-03-22T16:30:00"}, delivery="a")
    deep = _waiting(store, DEEP)
    after = receive({**wc_order, "id": 728, "number": "728", "date_modified_gmt": "2017-03-22T16:31:00"},
                    delivery="b")

    with caplog.at_level(logging.ERROR, logger=draining.__name__):
        taken, more = draining.store_drain(store_id=store.pk)

    assert (taken, more) == (3, False)
    assert not [r for r in caplog.records if "failed" in r.getMessage()]  # no batch rolled back
    deep.refresh_from_db()
    assert deep.status == S.MALFORMED and "nested 10,000 levels deep" in deep.reason
    assert deep.processed_at is not None
    assert InboundEvent.objects.get(pk=before.pk).status == S.PROCESSED
    assert InboundEvent.objects.get(pk=after.pk).status == S.PROCESSED
    assert set(Order.objects.values_list("external_id", flat=True)) == {"727", "728"}
    # nothing for a person to retry: it is malformed for good
    assert not ExceptionCase.objects.filter(kind=ExceptionKind.SYNC_FAILURE).exists()


@pytest.mark.parametrize("topic", ["order.updated", "order.deleted", "customer.updated"])
def test_processing_an_unreadable_delivery_alone_ends_it_malformed(store, topic):
    event = _waiting(store, DEEP, topic=topic)
    assert inbound_event_process(event_id=event.pk) == S.MALFORMED
    event.refresh_from_db()
    assert event.status == S.MALFORMED and "nested" in event.reason and event.attempts == 1
    assert inbound_event_process(event_id=event.pk) == S.MALFORMED  # finished: left alone
