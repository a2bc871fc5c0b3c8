"""WooCommerce webhook authenticity: the signature, the PHP-shaped body it covers, and the ping.

Pure functions: no database, no network, no Django. What WooCommerce does, in WC_Webhook:

* deliver(): body = trim(wp_json_encode($payload)), i.e. PHP json_encode with default flags;
  header X-WC-Webhook-Signature = generate_signature(body).
* generate_signature(): base64_encode(hash_hmac('sha256', $body, $secret, true)).
* deliver_ping(): on activation, POST 'webhook_id=<id>' with no X-WC-Webhook-* headers at all
  (so no signature either), and the webhook only activates if the answer is exactly 200.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from itertools import accumulate

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
TOPIC_HEADER = "X-WC-Webhook-Topic"

# A SHA-256 digest is 32 bytes, i.e. 44 base64 characters; anything else cannot match, and
# refusing it early keeps garbage (or a megabyte "signature") away from the comparison.
_SIGNATURE_LENGTH = 44
_PING_BODY = re.compile(rb"webhook_id=\d+")
# deliver_ping() sets no Content-Type; WordPress's HTTP transports (curl, fsockopen) then send
# the form default. An empty value is accepted too, for transports that send none.
_PING_CONTENT_TYPES = frozenset({"", "application/x-www-form-urlencoded"})
# PHP's json_encode, which writes every WooCommerce body, refuses to nest deeper than its default
# depth of 512: a deeper body is not the shop's, and Python's parser recurses once per level (a
# RecursionError near 1,000 levels, earlier on a deeper stack), so the depth is measured first.
MAX_DEPTH = 512
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]  # by byte: in, out, neither


def compute_signature(raw_body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(raw_body, secret)), exactly as WC_Webhook::generate_signature.

    WooCommerce passes its stored secret through wp_specialchars_decode() first; `secret` here is
    the plain value an operator copies from the webhook screen, which is already decoded.
    """
    digest = hmac.new(secret.encode("utf-8"), _as_bytes(raw_body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(raw_body: bytes, secret: str, header_value: str | None) -> bool:
    """True only if `header_value` is the signature of these exact bytes under `secret`.

    The body is never decoded and re-encoded: WooCommerce signs PHP's escaping ("\\/", "\\u00eb"),
    which Python's json would not reproduce. An empty secret fails closed, since a connection
    without a secret cannot tell a store from anybody else.
    """
    body = _as_bytes(raw_body)
    if not secret or not header_value or not isinstance(header_value, str):
        return False
    candidate = header_value.strip()
    if len(candidate) != _SIGNATURE_LENGTH or not candidate.isascii():
        return False
    try:
        # Validate as base64 so garbage of the right length is refused for what it is.
        base64.b64decode(candidate, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = compute_signature(body, secret)
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii"))


def load_body(raw_body: bytes) -> dict:
    """The delivery's JSON object; ValueError saying what is wrong for anything else (not JSON, not
    an object, nested deeper than WooCommerce can write). The receiver and the worker both read
    bodies through here, so what one accepts the other can read."""
    body = _as_bytes(raw_body)
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:  # fewer brackets cannot nest deeper (most orders)
        depth = nesting_depth(body)
        if depth > MAX_DEPTH:
            raise ValueError(f"nested {depth:,} levels deep, deeper than the {MAX_DEPTH} WooCommerce can write")
    try:
        payload = json.loads(body)
    except RecursionError:  # not below MAX_DEPTH, unless a caller is itself deep in its stack
        raise ValueError("nested too deeply to read") from None
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    return payload


def nesting_depth(raw_body: bytes) -> int:
    """How deep the brackets of a JSON text nest outside its strings (exact for valid JSON).

    All in C (a regex, translate, accumulate): a 2.5 MB body of brackets costs milliseconds, and
    no recursion whatever the depth.
    """
    brackets = _JSON_STRING.sub(b"", _as_bytes(raw_body)).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def php_json_encode(obj) -> bytes:
    """JSON bytes as PHP's json_encode($obj) with default flags writes them.

    Differences from json.dumps that matter for signatures: "/" is escaped as "\\/", every
    non-ASCII character is a lowercase \\uXXXX escape (surrogate pairs above U+FFFF, as PHP does),
    and no whitespace. Python's ensure_ascii already matches PHP on \\u escapes and on \\n, \\t,
    \\", \\\\. A "/" can only occur inside a JSON string, so escaping it after dumping is safe.

    Known limits (irrelevant to WooCommerce bodies, which carry money and dates as strings): an
    empty dict encodes as "{}" where PHP's empty array gives "[]"; floats use Python's repr
    (PHP >= 7.1 agrees for ordinary values, not for exponents like 1e+25 vs 1.0e+25).
    """
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("/", "\\/").encode("ascii")


def is_ping(content_type: str, raw_body: bytes, headers: Mapping) -> bool:
    """True for WooCommerce's activation ping: form body 'webhook_id=N' and no topic header.

    The ping is unsigned, so the caller answers it with 200 without verifying a signature and
    without storing it as an event; a real delivery always carries X-WC-Webhook-Topic.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in _PING_CONTENT_TYPES:
        return False
    if _header(headers, TOPIC_HEADER):
        return False
    return _PING_BODY.fullmatch(_as_bytes(raw_body).strip()) is not None


def _header(headers: Mapping, name: str) -> str | None:
    """Case- and separator-insensitive lookup: Django's request.headers, a plain dict, or META."""
    wanted = name.lower().replace("_", "-")
    for key, value in (headers or {}).items():
        key = str(key).lower().replace("_", "-")
        if key.startswith("http-"):  # Django's META spelling: HTTP_X_WC_WEBHOOK_TOPIC
            key = key[len("http-"):]
        if key == wanted:
            return value
    return None


def _as_bytes(raw_body) -> bytes:
    # A str would have to be encoded by us, and any choice could differ from the bytes signed.
    if isinstance(raw_body, (bytes, bytearray, memoryview)):
        return bytes(raw_body)
    raise TypeError(f"raw body must be bytes as received, not {type(raw_body).__name__}")
