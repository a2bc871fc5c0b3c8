
import pytest

from console.celery import app as celery_app
from integrations.models import InboundEvent
from integrations.stores import store_connect
from integrations.woocommerce.signatures import compute_signature, php_json_encode
from lifecycle.actors import Actor
from tests.integrations.wc_fixtures import load

WEBHOOK_SECRET = "whsec-test-7f3a"


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com",
                         consumer_key="ck_test", consumer_secret="cs_test", webhook_secret=WEBHOOK_SECRET,
                         actor=Actor.system("tests"))


@pytest.fixture
def eager_tasks():
    """Run tasks inline when their transaction commits (the receiver wakes the store's drain then:
    inline, every delivery does; wakeups.py has its own test)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def wc_order():
    """WooCommerce's published order (guest 727, 'processing'), fresh per test."""
    return load("order_retrieve_response.json")


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, eager_tasks):
    """POST a payload the way WooCommerce does: PHP-encoded, signed, with its headers."""

    def post(payload, topic="order.updated", *, slug="main", secret=WEBHOOK_SECRET, body=None, signature=None,
             delivery_id="d-1"):
        raw = body if body is not None else php_json_encode(payload)
        headers = {
            "HTTP_X_WC_WEBHOOK_TOPIC": topic,
            "HTTP_X_WC_WEBHOOK_RESOURCE": topic.split(".")[0],
            "HTTP_X_WC_WEBHOOK_EVENT": topic.split(".")[-1],
            "HTTP_X_WC_WEBHOOK_ID": "42",
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id,
            "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/",
        }
        if signature is not False:
            headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = signature or compute_signature(raw, secret)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/webhooks/woocommerce/{slug}/", data=raw, content_type="application/json", **headers)

    return post


@pytest.fixture
def receive(client, store):
    """Store a delivery as the receiver does, without running its task (the worker is down)."""

    def post(payload, topic="order.updated", delivery="d", body=None):
        raw = body if body is not None else php_json_encode(payload)
        response = client.post(
            "/webhooks/woocommerce/main/", data=raw, content_type="application/json",
            HTTP_X_WC_WEBHOOK_TOPIC=topic, HTTP_X_WC_WEBHOOK_DELIVERY_ID=delivery,
            HTTP_X_WC_WEBHOOK_SIGNATURE=compute_signature(raw, WEBHOOK_SECRET),
        )
        assert response.status_code == 200, response.content
        return InboundEvent.objects.get(pk=response.json()["event"])

    return post
