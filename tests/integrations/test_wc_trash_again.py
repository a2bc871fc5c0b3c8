"""An order trashed, restored and trashed again (issue 16, found by the drill): WooCommerce's
order.deleted body is only {"id": N} and its signature covers only the body, so the second trash looks
like a replay of the first. The console asks the shop (REST) whether the order is in the trash now,
only when its own order is not deleted: a second trash is applied, a replay still changes nothing,
and an unreachable shop fails the delivery for its retry."""

import pytest

from integrations.models import InboundEvent
from integrations.woocommerce.client import StoreUnavailable
from integrations.woocommerce.processing import inbound_event_process
from lifecycle.models import Order
from integrations.woocommerce.sandbox import SandboxStore
from tests.integrations.sync_fixtures import NOW, shop  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


@pytest.fixture
def sandbox():
    with SandboxStore.running(seed=7, orders=20, consumer_key="ck_test", consumer_secret="cs_test", now=NOW) as s:
        yield s


@pytest.fixture
def order_id(sandbox, shop, deliver):
    """An order of the sandbox shop the console heard of, then trashed and restored (both delivered)."""
    oid = next(i for i, o in sandbox.orders.items() if o["status"] in ("processing", "completed"))
    send(deliver, sandbox.get_order(oid), "order.created", "created")
    sandbox.trash(oid)
    send(deliver, {"id": oid}, "order.deleted", "trash-1")
    assert console_state(oid) == "deleted"
    sandbox.restore(oid)
    send(deliver, sandbox.get_order(oid), "order.restored", "restore")
    assert console_state(oid) != "deleted"
    return oid


def send(deliver, payload, topic, delivery_id):
    response = deliver(payload, topic=topic, slug="sandbox", secret="whsec", delivery_id=delivery_id)
    assert response.status_code == 200, response.content
    return InboundEvent.objects.get(delivery_id=delivery_id)


def console_state(oid):
    return Order.objects.get(namespace="sandbox", external_id=str(oid)).state


def test_an_order_trashed_again_after_its_restore_ends_deleted(sandbox, deliver, order_id):
    sandbox.trash(order_id)
    event = send(deliver, {"id": order_id}, "order.deleted", "trash-2")

    assert event.status == S.PROCESSED and console_state(order_id) == "deleted"


def test_a_replayed_deletion_of_a_restored_order_changes_nothing(sandbox, deliver, order_id):
    # the shop still has it restored: the resent deletion is the first one again
    event = send(deliver, {"id": order_id}, "order.deleted", "replayed")

    assert event.status == S.DUPLICATE and console_state(order_id) != "deleted"


def test_an_unreachable_shop_fails_the_second_deletion_for_its_retry(sandbox, deliver, order_id, monkeypatch):
    from integrations.woocommerce import client

    def down(self, order_id):
        raise StoreUnavailable("Sandbox Shop: GET orders failed 4 times, last with HTTP 503; the next run will try again.")

    monkeypatch.setattr(client.StoreClient, "order_status", down)
    sandbox.trash(order_id)
    with pytest.raises(StoreUnavailable):
        inbound_event_process(event_id=send_stored(order_id).pk)
    assert console_state(order_id) != "deleted"


def send_stored(order_id):
    """The second deletion stored as the receiver stores it (its drain not run yet)."""
    first = InboundEvent.objects.get(delivery_id="trash-1")
    return InboundEvent.objects.create(store=first.store, topic="order.deleted", resource="order",
                                       resource_id=str(order_id), body=first.body, body_sha256=first.body_sha256,
                                       dedupe_key=first.dedupe_key, status=S.RECEIVED, delivery_id="trash-2")
