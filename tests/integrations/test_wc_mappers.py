"""WooCommerce payload → domain arguments, on WooCommerce's own published examples (pure, no database)."""

import copy
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from integrations.woocommerce import mappers as m
from tests.integrations.wc_fixtures import load

SINGLE_ORDER_FILES = ["order_retrieve_response.json", "order_create_response.json",
                      "order_update_response.json", "order_delete_response.json"]
CUSTOMER_FILES = ["customer_create_response.json", "customer_retrieve_response.json", "customers_list_response.json"]


def all_orders():
    """(label, payload) for every order in every order fixture, batch sections included."""
    orders = [(name, load(name)) for name in SINGLE_ORDER_FILES]
    orders += [(f"orders_list[{i}]", o) for i, o in enumerate(load("orders_list_response.json"))]
    for section, items in load("orders_batch_response.json").items():
        orders += [(f"batch.{section}[{i}]", o) for i, o in enumerate(items) if "status" in o]
    return orders


def all_customers():
    customers = []
    for name in CUSTOMER_FILES:
        data = load(name)
        customers += [(f"{name}[{i}]", c) for i, c in enumerate(data)] if isinstance(data, list) else [(name, data)]
    return customers


def order(name="order_retrieve_response.json", **changes):
    payload = copy.deepcopy(load(name))
    payload.update(changes)
    return payload


def map_default(payload):
    return m.map_order(payload, store_slug="demo", status_map=m.DEFAULT_STATUS_MAP)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- orders ------------------------------------------------------------------------------

@pytest.mark.parametrize("label, payload", all_orders(), ids=[label for label, _ in all_orders()])
def test_every_fixture_order_maps(label, payload):
    data = map_default(payload)

    assert data.external_id == str(payload["id"]) and data.number == payload["number"]
    assert data.status.outcome == m.CANONICAL and data.raw_status == payload["status"]
    assert type(data.total) is Decimal and data.total == Decimal(payload["total"])
    assert data.currency == "USD"
    assert data.placed_at.tzinfo is UTC and data.modified_at.tzinfo is UTC
    assert data.placed_at == m.parse_gmt(payload["date_created_gmt"])
    assert data.paid_at == m.parse_gmt(payload["date_paid_gmt"])
    assert data.line_item_count == len(payload["line_items"])
    assert data.refund_count == len(payload["refunds"])
    assert data.canonical_state in m.CANONICAL_STATES


def test_guest_processing_order():
    data = map_default(load("order_retrieve_response.json"))

    assert (data.external_id, data.number, data.status.state, data.canonical_state) == ("727", "727", "paid", "paid")
    assert (data.total, data.refunded_total, data.is_partially_refunded) == (Decimal("29.35"), Decimal("0.00"), False)
    assert data.placed_at == utc(2017, 3, 22, 19, 28, 2)  # the _gmt field, not local date_created 16:28
    assert data.paid_at == utc(2017, 3, 22, 19, 28, 8) and data.completed_at is None
    assert data.customer == m.CustomerRef(
        woocommerce_id=None, email="john.doe@example.com", first_name="John", last_name="Doe",
        display_name="John Doe", phone_raw="(555) 555-5555", phone="5555555555", country="US", company="")
    assert data.customer.is_guest


def test_update_completes_the_order_and_is_newer_than_the_retrieve():
    before = map_default(load("order_retrieve_response.json"))
    after = map_default(load("order_update_response.json"))

    assert after.canonical_state == "completed" and after.completed_at == utc(2017, 3, 22, 19, 30, 35)
    assert m.is_newer(after.modified_at, before.modified_at)
    assert not m.is_newer(before.modified_at, after.modified_at)


def test_registered_customer_with_partial_refunds_is_partially_refunded():
    payload = load("orders_list_response.json")[1]  # order 723: completed, refunds of 10.00 and 9.00 on 39.00
    data = map_default(payload)

    assert data.customer.woocommerce_id == 26 and not data.customer.is_guest
    assert data.customer.display_name == "João Silva" and data.customer.country == "BR"
    assert data.refunded_total == Decimal("19.00") and data.refund_count == 2
    assert data.status.state == "completed" and data.is_partially_refunded
    assert data.canonical_state == "partially_refunded"


@pytest.mark.parametrize("status, refunds, expected", [
    ("processing", ["-5.00"], "partially_refunded"),
    ("completed", ["-20.00", "-9.35"], "completed"),  # refunded in full: WooCommerce flips to "refunded" itself
    ("refunded", ["-29.35"], "refunded"),
    ("on-hold", ["-5.00"], "on_hold"),  # no money kept yet, nothing partial about it
    ("processing", [], "paid"),
])
def test_partial_refund_rule(status, refunds, expected):
    payload = order(status=status, refunds=[{"id": 900 + i, "refund": "", "total": t} for i, t in enumerate(refunds)])

    assert map_default(payload).canonical_state == expected


def test_batch_orders_map_pending_and_processing():
    created = load("orders_batch_response.json")["create"]
    pending, processing = (map_default(o) for o in created)

    assert (pending.external_id, pending.canonical_state, pending.paid_at) == ("728", "pending_payment", None)
    assert (processing.external_id, processing.canonical_state, processing.total) == ("729", "paid", Decimal("54.40"))


@pytest.mark.parametrize("status", ["shipped", "ready-for-pickup"])
def test_order_with_a_plugin_status_is_unmapped_and_keeps_the_raw_status(status):
    data = map_default(order(status=status))

    assert data.status == m.StatusResult(m.UNMAPPED, status, status)
    assert data.raw_status == status and data.canonical_state is None


def test_checkout_draft_order_is_ignored():
    data = map_default(order(status="checkout-draft"))

    assert data.status.outcome == m.IGNORED and data.canonical_state is None


def test_order_email_is_normalised_and_number_falls_back_to_id():
    payload = order(number=None)
    payload["billing"]["email"] = " John.Doe@Example.COM "

    data = map_default(payload)

    assert data.customer.email == "john.doe@example.com" and data.number == "727"


def test_order_data_is_frozen():
    data = map_default(load("order_retrieve_response.json"))

    with pytest.raises(dataclasses.FrozenInstanceError):
        data.total = Decimal("0")


def _without(field):
    def change(p):
        del p[field]
    return change


def _set(field, value):
    def change(p):
        p[field] = value
    return change


def _refund_total(p):
    p["refunds"] = [{"id": 1, "total": "-1.00"}, {"id": 2, "total": "ten"}]


@pytest.mark.parametrize("field, change", [
    ("id", _without("id")), ("id", _set("id", "abc")), ("id", _set("id", 0)), ("id", _set("id", True)),
    ("status", _without("status")), ("status", _set("status", "")),
    ("currency", _set("currency", "")), ("currency", _set("currency", "US")),
    ("total", _without("total")), ("total", _set("total", "abc")),
    ("date_created_gmt", _without("date_created_gmt")), ("date_modified_gmt", _set("date_modified_gmt", "yesterday")),
    ("date_paid_gmt", _set("date_paid_gmt", "soon")),
    ("refunds", _set("refunds", "none")), ("refunds[1].total", _refund_total),
    ("billing", _set("billing", "John")), ("customer_id", _set("customer_id", "abc")),
    ("line_items", _set("line_items", {})),
])
def test_payload_error_names_the_field(field, change):
    payload = order()
    change(payload)

    with pytest.raises(m.PayloadError) as caught:
        map_default(payload)

    assert caught.value.field == field and field in str(caught.value)


def test_a_body_that_is_not_an_object_is_a_payload_error():
    with pytest.raises(m.PayloadError):
        map_default(load("orders_list_response.json"))


# --- customers and deletions ---------------------------------------------------------------

@pytest.mark.parametrize("label, payload", all_customers(), ids=[label for label, _ in all_customers()])
def test_every_fixture_customer_maps(label, payload):
    data = m.map_customer(payload)

    assert data.woocommerce_id == payload["id"] and data.email == payload["email"]
    assert data.role == "customer" and data.username == payload["username"]
    assert data.phone == m.normalize_phone(payload["billing"]["phone"]) and data.phone.isdigit()
    assert data.country == payload["billing"]["country"]
    assert data.modified_at == m.parse_gmt(payload["date_modified_gmt"]) and data.modified_at.tzinfo is UTC
    assert data.is_paying_customer is False


def test_customer_fields_and_email_normalisation():
    payload = copy.deepcopy(load("customer_retrieve_response.json"))
    payload["email"] = " John.Doe@Example.COM "

    data = m.map_customer(payload)

    assert (data.woocommerce_id, data.email, data.display_name) == (25, "john.doe@example.com", "John Doe")
    assert (data.phone_raw, data.phone) == ("(555) 555-5555", "5555555555")
    assert data.created_at == utc(2017, 3, 21, 19, 9, 28) and data.modified_at == utc(2017, 3, 21, 19, 9, 30)


def test_customer_without_id_is_a_payload_error():
    payload = copy.deepcopy(load("customer_create_response.json"))
    del payload["id"]

    with pytest.raises(m.PayloadError) as caught:
        m.map_customer(payload)

    assert caught.value.field == "id"


@pytest.mark.parametrize("payload", [{"id": 727}, {"id": "727"}])
def test_deleted_body_carries_only_the_id(payload):
    assert m.map_deleted(payload) == "727"


def test_deleted_mapper_also_reads_a_rest_delete_response():
    assert m.map_deleted(load("order_delete_response.json")) == "727"


@pytest.mark.parametrize("payload", [{}, {"id": None}, {"id": "x"}, {"id": -1}, []])
def test_deleted_body_without_a_usable_id_is_a_payload_error(payload):
    with pytest.raises(m.PayloadError):
        m.map_deleted(payload)


# --- idempotency and ordering --------------------------------------------------------------

def test_dedupe_key_is_stable_and_sensitive_to_every_part():
    args = ("demo", "order", "727", "2017-03-22T19:28:08", b'{"id":727}')
    key = m.dedupe_key(*args)

    assert key == m.dedupe_key(*args) and len(key) == 64 and int(key, 16) >= 0
    assert key == m.dedupe_key("demo", "order", 727, utc(2017, 3, 22, 19, 28, 8), b'{"id":727}')
    assert key == m.dedupe_key("demo", "order", "727", datetime(2017, 3, 22, 21, 28, 8,
                                                                 tzinfo=timezone(timedelta(hours=2))), b'{"id":727}')
    for i, other in enumerate(["other", "customer", "728", "2017-03-22T19:28:09", b'{"id":727} ']):
        changed = list(args)
        changed[i] = other
        assert m.dedupe_key(*changed) != key


@pytest.mark.parametrize("incoming, stored, expected", [
    ("2017-03-22T19:30:35", "2017-03-22T19:28:08", True),
    ("2017-03-22T19:28:08", "2017-03-22T19:30:35", False),
    ("2017-03-22T19:28:08", "2017-03-22T19:28:08", False),  # equal: a replay, not news
    (utc(2017, 3, 22, 19, 28, 9), "2017-03-22T19:28:08", True),
    (datetime(2017, 3, 22, 19, 28, 8), utc(2017, 3, 22, 19, 28, 8), False),  # naive means UTC
    ("2017-03-22T19:28:08", None, True),
    (None, "2017-03-22T19:28:08", False),
])
def test_is_newer(incoming, stored, expected):
    assert m.is_newer(incoming, stored) is expected
