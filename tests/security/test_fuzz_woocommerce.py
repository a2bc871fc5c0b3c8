"""Fuzzing the WooCommerce webhook mapper and what follows it (issue 16, item 7): any value at any field
of a real order is either read or refused with the field and the reason (a PayloadError that fails
that delivery for a person), never another error; signed through the receiver and drained, every
delivery ends with a status and the drain never fails a batch on it."""

import copy
import json
import logging

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from integrations.models import InboundEvent
from integrations.stores import store_connect
from integrations.woocommerce import draining, mappers
from integrations.woocommerce.signatures import compute_signature
from integrations.woocommerce.statuses import DEFAULT_STATUS_MAP
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind
from lifecycle.values import OrderObservation
from tests.integrations.wc_fixtures import load
from tests.security.fuzz import JSON, PURE, WITH_DATABASE, rolled_back

ORDER = load("order_retrieve_response.json")
SECRET = "whsec-fuzz"
S = InboundEvent.Status
# Where a value can be replaced: every top-level field, and those of the blocks the mapper reads.
PATHS = [(key,) for key in ORDER] + [("billing", key) for key in ORDER["billing"]] + \
        [("refunds", 0, "total"), ("line_items", 0, "total"), ("meta_data",)]


def _has(container, key):
    return key in container if isinstance(container, dict) else isinstance(key, int) and 0 <= key < len(container)


def mutated(changes):
    """The published order (with a refund, so its total is a path too) with each (path, value) set."""
    payload = copy.deepcopy(ORDER)
    payload["refunds"] = payload.get("refunds") or [{"id": 1, "total": "-1.00"}]
    for path, value in changes:
        target = payload
        for key in path[:-1]:  # an earlier change may have replaced a block with a scalar
            target = target[key] if isinstance(target, (dict, list)) and _has(target, key) else None
        if isinstance(target, (dict, list)) and _has(target, path[-1]):
            target[path[-1]] = value
    return payload


ORDERS = st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=4).map(mutated)


@PURE
@given(payload=ORDERS)
@example(payload=mutated([(("total",), 1e300)]))  # more digits than Decimal keeps to the cent
@example(payload=mutated([(("refunds", 0, "total"), "-1e40")]))
@example(payload=mutated([(("status",), "processing\x00")]))
def test_any_value_at_any_field_is_read_or_refused_naming_the_field(payload):
    try:
        observation = mappers.order_observation(payload, store_slug="main", store_name="Main", status_map=DEFAULT_STATUS_MAP,
                                                actor=Actor.system("fuzz"))
    except mappers.PayloadError as error:
        assert error.field and error.message  # what the sync_failure exception tells a person
        return
    assert isinstance(observation, OrderObservation)


@PURE
@given(payload=JSON)
def test_any_json_body_is_read_or_refused_for_every_topic(payload):
    for read in (lambda p: mappers.map_order(p, store_slug="main", status_map=DEFAULT_STATUS_MAP),
                 mappers.map_customer, mappers.map_deleted):
        try:
            read(payload)
        except mappers.PayloadError:
            pass


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                         consumer_secret="cs", webhook_secret=SECRET, actor=Actor.system("tests"))


@pytest.mark.django_db
def test_signed_deliveries_of_any_order_end_with_a_status_and_never_fail_a_batch(store, client, caplog):
    @WITH_DATABASE
    @given(payloads=st.lists(ORDERS, min_size=1, max_size=3))
    @example(payloads=[mutated([(("status",), "processing\x00")]), mutated([(("billing", "email"), "a\x00@b.co")])])
    @example(payloads=[mutated([(("number",), "9" * 300)]), mutated([(("total",), 1e300)])])
    @example(payloads=[mutated([(("id",), 2**70)]), mutated([(("date_modified_gmt",), "0000-00-00T00:00:00")])])
    def deliver_and_drain(payloads):
        with rolled_back(), caplog.at_level(logging.ERROR, logger=draining.__name__):
            caplog.clear()
            for payload in payloads:
                raw = json.dumps(payload).encode()  # NaN and Infinity too, which Python's json reads
                response = client.post("/webhooks/woocommerce/main/", data=raw, content_type="application/json",
                                       HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
                                       HTTP_X_WC_WEBHOOK_SIGNATURE=compute_signature(raw, SECRET))
                assert response.status_code in (200, 400), response.content
            draining.store_drain(store_id=store.pk)
            # every delivery ended; one that failed did so for good, with its field named to a person
            events = list(InboundEvent.objects.all())
            assert S.RECEIVED not in {e.status for e in events}
            for event in events:
                if event.status == S.FAILED:
                    case = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE, subject_key=f"inbound:{event.pk}")
                    assert ":" in case.evidence["error"]
            assert [r.getMessage() for r in caplog.records] == []  # no batch failed, no retry needed

    deliver_and_drain()
