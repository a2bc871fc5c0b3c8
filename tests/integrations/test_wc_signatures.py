"""WooCommerce webhook signatures, PHP-shaped bodies and the activation ping (pure, no database)."""

import copy
import json

import pytest
from django.http.request import HttpHeaders
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.woocommerce.signatures import compute_signature, is_ping, php_json_encode, verify_signature
from tests.integrations.wc_fixtures import FIXTURES, load

FIXTURE_FILES = [
    "order_retrieve_response.json", "orders_list_response.json", "order_create_response.json",
    "order_update_response.json", "order_delete_response.json", "orders_batch_response.json",
    "customer_create_response.json", "customer_retrieve_response.json", "customers_list_response.json",
    "webhook_retrieve_response.json", "webhooks_list_response.json",
]
SECRET = "wc-secret-&-<ünïcode>"  # WooCommerce's generated secrets contain punctuation too


def with_escapable_text(payload):
    """The fixture plus a non-ASCII name and a URL, so PHP's escaping shows up in the body."""
    payload = copy.deepcopy(payload)
    extra = {"customer_note": "Zoë asks: see https://example.com/help/returns"}
    if isinstance(payload, dict):
        payload.update(extra)
    else:
        payload.append(extra)
    return payload


def test_fixture_directory_is_present():
    assert FIXTURES.is_dir(), f"missing {FIXTURES}"
    assert {p.name for p in FIXTURES.glob("*.json")} >= set(FIXTURE_FILES)


def test_signature_matches_a_published_hmac_sha256_vector():
    # HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") = f7bc83f4…3cd8, base64-encoded.
    assert compute_signature(b"The quick brown fox jumps over the lazy dog", "key") == (
        "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
    )


def test_php_json_encode_escapes_like_php():
    body = php_json_encode({"name": "Zoë", "url": "https://example.com/a", "emoji": "😀", "n": [1, 2.5, None, True]})
    assert body == (
        b'{"name":"Zo\\u00eb","url":"https:\\/\\/example.com\\/a","emoji":"\\ud83d\\ude00",'
        b'"n":[1,2.5,null,true]}'
    )


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_signature_round_trip_on_fixture_bodies(name):
    payload = with_escapable_text(load(name))
    body = php_json_encode(payload)
    assert b"\\/" in body and b"\\u00eb" in body and body.isascii()
    assert json.loads(body) == payload

    signature = compute_signature(body, SECRET)

    assert verify_signature(body, SECRET, signature)
    assert not verify_signature(body, "another-secret", signature)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_tampering_with_one_byte_fails(name):
    body = php_json_encode(with_escapable_text(load(name)))
    signature = compute_signature(body, SECRET)
    i = body.index(b"Zo")  # change "Zo\u00eb" to "Xo\u00eb": still valid JSON, one byte differs
    tampered = body[:i] + b"X" + body[i + 1:]

    assert not verify_signature(tampered, SECRET, signature)


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_reencoded_body_fails_with_the_original_signature(name):
    payload = with_escapable_text(load(name))
    body = php_json_encode(payload)
    signature = compute_signature(body, SECRET)
    # What a framework that parses and re-serialises would produce: same data, other bytes.
    for reencoded in (
        json.dumps(payload).encode(),
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(payload, separators=(",", ":")).encode(),  # only "/" is not escaped
    ):
        assert json.loads(reencoded) == payload and reencoded != body
        assert not verify_signature(reencoded, SECRET, signature)


@pytest.mark.parametrize("header", [None, "", "   ", "garbage", "=" * 44, "é" * 44, "A" * 45, 12345])
def test_verify_is_false_for_missing_or_garbage_headers(header):
    body = php_json_encode(load("order_retrieve_response.json"))

    assert verify_signature(body, SECRET, header) is False


def test_verify_fails_closed_without_a_secret():
    body = b'{"id":1}'

    assert verify_signature(body, "", compute_signature(body, "")) is False


def test_verify_refuses_a_decoded_body():
    with pytest.raises(TypeError):
        verify_signature('{"id":1}', SECRET, compute_signature(b'{"id":1}', SECRET))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(st.text(), json_values, max_size=8), secret=st.text(min_size=1))
def test_any_php_encoded_dict_verifies_with_its_own_signature(payload, secret):
    body = php_json_encode(payload)

    assert body.isascii() and b"/" not in body.replace(b"\\/", b"")
    assert verify_signature(body, secret, compute_signature(body, secret))


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "application/x-www-form-urlencoded; charset=UTF-8", ""])
def test_activation_ping_is_recognised(content_type):
    assert is_ping(content_type, b"webhook_id=142", {"User-Agent": "WooCommerce/9.0 Hookshot (WordPress/6.5)"})


@pytest.mark.parametrize("content_type, body, headers", [
    ("application/x-www-form-urlencoded", b"webhook_id=142", {"X-WC-Webhook-Topic": "order.updated"}),
    ("application/x-www-form-urlencoded", b"webhook_id=142", {"x-wc-webhook-topic": "order.updated"}),
    ("application/x-www-form-urlencoded", b"webhook_id=142", {"HTTP_X_WC_WEBHOOK_TOPIC": "order.updated"}),
    ("application/x-www-form-urlencoded", b"webhook_id=142",
     HttpHeaders({"HTTP_X_WC_WEBHOOK_TOPIC": "order.updated"})),
    ("application/json", b"webhook_id=142", {}),
    ("application/json", b'{"id":142}', {}),
    ("application/x-www-form-urlencoded", b"webhook_id=abc", {}),
    ("application/x-www-form-urlencoded", b"webhook_id=1&x=2", {}),
    ("application/x-www-form-urlencoded", b"", {}),
])
def test_deliveries_and_lookalikes_are_not_pings(content_type, body, headers):
    assert not is_ping(content_type, body, headers)
