"""The webhook receiver and the processing behind it, on WooCommerce's published order payload."""

import psycopg
import pytest

from integrations.models import InboundEvent, StoreConnection
from integrations.woocommerce.status_mappings import status_mapping_set
from integrations.woocommerce.processing import inbound_event_process
from lifecycle.actors import Actor
from lifecycle.models import (
    Customer,
    CustomerIdentity,
    ExceptionCase,
    Handoff,
    Order,
    OrderSourceState,
    Ownership,
    TimelineEvent,
)

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


def _bump(payload, modified, **changes):
    return {**payload, "date_modified_gmt": modified, **changes}


def test_ping_is_answered_200_and_nothing_is_stored(client, store):
    response = client.post("/webhooks/woocommerce/main/", data="webhook_id=42",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert not InboundEvent.objects.exists()


def test_unknown_store_is_404_and_stores_nothing(deliver, store, wc_order):
    assert deliver(wc_order, slug="nope").status_code == 404
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("signature, reason", [(False, "missing signature"), ("AAAA", "does not match")])
def test_bad_or_missing_signature_is_401_recorded_and_never_processed(deliver, store, wc_order, signature, reason):
    response = deliver(wc_order, signature=signature)
    assert response.status_code == 401
    event = InboundEvent.objects.get()
    assert event.status == S.REJECTED and reason in event.reason
    assert not Order.objects.exists()
    assert inbound_event_process(event_id=event.pk) == S.REJECTED  # a rejected delivery stays unprocessed
    assert not Order.objects.exists()


def test_signature_with_another_store_secret_is_refused(deliver, store, wc_order):
    assert deliver(wc_order, secret="someone-else").status_code == 401


def test_valid_signature_on_malformed_json_is_400_and_kept_for_inspection(deliver, store):
    response = deliver(None, body=b'{"id": 727, "status": ')
    assert response.status_code == 400
    event = InboundEvent.objects.get()
    assert event.status == S.MALFORMED and bytes(event.body) == b'{"id": 727, "status": '


def test_unhandled_topic_is_200_stored_and_ignored(deliver, store):
    assert deliver({"id": 5, "name": "Hoodie"}, topic="product.updated").status_code == 200
    assert InboundEvent.objects.get().status == S.IGNORED


def test_order_created_lands_once_on_the_guest_customer_with_an_owner(deliver, store, wc_order):
    # given WooCommerce's published guest order 727, paid ("processing"), PHP-encoded and signed
    response = deliver(wc_order, topic="order.created")
    # then it is accepted, stored raw, and processed into one order on one customer with an owner
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == S.PROCESSED and b"\\/" in bytes(event.body)
    order = Order.objects.get()
    assert (order.external_id, order.number, order.state, str(order.total)) == ("727", "727", "paid", "29.35")
    customer = order.customer
    assert customer.email == "john.doe@example.com" and customer.stage == "onboarding"
    assert Ownership.objects.get(customer=customer).team.slug == "success"
    assert Handoff.objects.filter(customer=customer, actor_kind="webhook").exists()
    source = OrderSourceState.objects.get(order=order)
    assert (source.raw_status, source.observed_at.isoformat()) == ("processing", "2017-03-22T19:28:08+00:00")


def test_duplicate_and_reordered_deliveries_yield_one_order_in_its_newest_state(deliver, store, wc_order):
    newest = _bump(wc_order, "2017-03-25T10:00:00", status="completed")
    older = _bump(wc_order, "2017-03-23T10:00:00", status="on-hold")
    deliver(wc_order, topic="order.created")
    deliver(newest, delivery_id="d-3")
    deliver(newest, delivery_id="d-3")  # WooCommerce retries
    deliver(older, delivery_id="d-2")  # arrives late
    assert Order.objects.count() == 1 and Customer.objects.count() == 1
    order = Order.objects.get()
    assert order.state == "completed"
    statuses = list(InboundEvent.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [S.PROCESSED, S.PROCESSED, S.DUPLICATE, S.STALE]
    assert TimelineEvent.objects.filter(order=order, kind="stale_event").count() == 1


def test_replaying_every_stored_delivery_changes_nothing(deliver, store, wc_order):
    deliver(wc_order, topic="order.created")
    deliver(_bump(wc_order, "2017-03-25T10:00:00", status="completed"))
    counts = (Order.objects.count(), TimelineEvent.objects.count(), Handoff.objects.count())
    for event in InboundEvent.objects.all():
        inbound_event_process(event_id=event.pk, replay=True)
    assert (Order.objects.count(), TimelineEvent.objects.count(), Handoff.objects.count()) == counts
    assert Order.objects.get().state == "completed"


def test_order_deleted_marks_the_order_deleted_and_keeps_its_history(deliver, store, wc_order):
    deliver(wc_order, topic="order.created")
    deliver({"id": 727}, topic="order.deleted")
    order = Order.objects.get()
    assert order.state == "deleted"
    assert TimelineEvent.objects.filter(order=order, kind="order_created").exists()


def test_refund_arrives_as_order_updated(deliver, store, wc_order):
    deliver(wc_order, topic="order.created")
    partial = _bump(wc_order, "2017-03-24T10:00:00", refunds=[{"id": 9, "reason": "damaged", "total": "-10.00"}])
    deliver(partial)
    order = Order.objects.get()
    assert (order.state, str(order.refunded_total)) == ("partially_refunded", "10.00")
    full = _bump(wc_order, "2017-03-25T10:00:00", status="refunded",
                 refunds=[{"id": 9, "reason": "damaged", "total": "-29.35"}])
    deliver(full)
    order.refresh_from_db()
    assert (order.state, str(order.refunded_total)) == ("refunded", "29.35")


def test_unmapped_plugin_status_waits_then_follows_the_managers_mapping(deliver, store, wc_order, manager):
    deliver(wc_order, topic="order.created")
    deliver(_bump(wc_order, "2017-03-24T10:00:00", status="shipped"))
    order = Order.objects.get()
    assert order.state == "paid"  # keeps its last canonical state
    exception = ExceptionCase.objects.get(kind="unmapped_status")
    assert exception.evidence["raw_status"] == "shipped" and exception.is_open

    moved = status_mapping_set(store=store, raw_status="shipped", canonical="shipped", actor=Actor.for_user(manager))

    order.refresh_from_db()
    exception.refresh_from_db()
    assert moved == 1 and order.state == "shipped"
    assert exception.status == "resolved" and "1 orders re-derived" in exception.resolution_reason
    deliver(_bump(wc_order, "2017-03-26T10:00:00", status="shipped"))  # known now: no new exception
    assert ExceptionCase.objects.filter(kind="unmapped_status").count() == 1


def test_guest_orders_merge_into_the_customer_who_registers_with_that_email(deliver, store, wc_order):
    deliver(wc_order, topic="order.created")  # guest, john.doe@example.com
    registered = _bump(wc_order, "2017-04-01T10:00:00", id=800, number="800", customer_id=25,
                       billing={**wc_order["billing"], "email": " John.Doe@Example.com "})
    deliver(registered, topic="order.created")
    assert Customer.objects.count() == 1
    customer = Customer.objects.get()
    assert customer.orders.count() == 2
    assert CustomerIdentity.objects.filter(customer=customer, kind="woocommerce", namespace="main",
                                           value="25").exists()


def test_id_and_email_pointing_at_two_customers_opens_duplicate_customer(deliver, store, wc_order):
    deliver(_bump(wc_order, "2017-03-22T19:28:08", customer_id=25,
                  billing={**wc_order["billing"], "email": "first@example.com"}), topic="order.created")
    deliver(_bump(wc_order, "2017-03-22T19:28:08", id=801, number="801"), topic="order.created")  # guest john.doe
    deliver(_bump(wc_order, "2017-04-02T10:00:00", id=802, number="802", customer_id=25), topic="order.created")
    assert Customer.objects.count() == 2
    duplicate = ExceptionCase.objects.get(kind="duplicate_customer")
    assert duplicate.evidence["woocommerce_id"] == "25"  # ids are text in every system
    assert Order.objects.get(external_id="802").customer.email == "first@example.com"


def test_a_secret_rotated_in_another_process_is_used_at_once(deliver, store, wc_order):
    # given a delivery accepted with the secret the receiver keeps, then the secret rotated where
    # this process gets no signal (another process, a bulk update)
    assert deliver(wc_order).status_code == 200
    StoreConnection.objects.filter(pk=store.pk).update(webhook_secret="whsec-rotated")
    # then a delivery signed with the new secret is accepted, one signed with the old one refused
    newer = _bump(wc_order, "2017-03-22T16:30:00")
    assert deliver(newer, secret="whsec-rotated", delivery_id="d-2").status_code == 200
    assert deliver(_bump(wc_order, "2017-03-22T16:31:00"), delivery_id="d-3").status_code == 401


def test_a_deactivated_store_is_refused_at_once(deliver, store, wc_order):
    assert deliver(wc_order).status_code == 200
    store.is_active = False
    store.save()
    assert deliver(_bump(wc_order, "2017-03-22T16:30:00"), delivery_id="d-2").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_after_the_database_dropped_the_connection_is_stored(deliver, store, wc_order):
    """The receiver keeps its connection between requests without pinging it first: when the
    database has closed it meanwhile (a restart), the delivery reconnects and is kept, not lost."""
    from django.db import connection

    assert deliver(_bump(wc_order, "2017-03-22T16:30:00"), delivery_id="before").status_code == 200
    connection.ensure_connection()
    victim = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [victim])
    response = deliver(_bump(wc_order, "2017-03-22T16:31:00"), delivery_id="after")
    assert response.status_code == 200
    assert connection.connection.info.backend_pid != victim
    assert InboundEvent.objects.filter(delivery_id="after").exists()
