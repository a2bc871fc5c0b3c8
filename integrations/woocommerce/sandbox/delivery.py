"""Sending webhooks the way WC_Webhook::deliver() and deliver_ping() do.

Body: PHP json_encode of the REST resource (or {"id": N} for *.deleted), signed as
base64(HMAC-SHA256(body, secret)). Delivery id: wp_hash(webhook id . unix time), so two deliveries
of one webhook in the same second share an X-WC-Webhook-Delivery-ID, as on a real store.
Redirects are not followed (redirection => 0) and count as success for 301/302.
"""

import base64
import calendar
import hashlib
import hmac
import http.client
from urllib.parse import urlsplit

from .common import WC_VERSION, WP_VERSION, iso, php_json, wp_hash

USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
_MISSING = {"order": {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 404}},
            "customer": {"code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID.", "data": {"status": 404}}}


# wp_specialchars_decode($secret, ENT_QUOTES); "&amp;" last so "&amp;lt;" stays "&lt;".
_SPECIALCHARS = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#039;", "'"), ("&#39;", "'"),
                 ("&#x27;", "'"), ("&amp;", "&"))


def signature(body: bytes, secret: str) -> str:
    """WC_Webhook::generate_signature; the stored secret goes through wp_specialchars_decode."""
    key = secret
    for entity, char in _SPECIALCHARS:
        key = key.replace(entity, char)
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def post(url, body, headers, timeout):
    """One POST with headers spelled exactly as given (urllib would re-case "X-WC-..."), no
    redirects followed, no proxies. Returns (status or None, error or None, response body)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, f"invalid delivery URL {url!r}", b""
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.putrequest("POST", target, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body)), "Connection": "close"}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, None, response.read()
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}", b""
    finally:
        connection.close()


def build(store, wh, item):
    """(url, body, headers) for one queued delivery; call with store.lock held."""
    resource, event, rid = wh["resource"], wh["event"], item["resource_id"]
    if event == "deleted":
        body = php_json({"id": rid})
    elif resource == "order":
        body = store.order_json(rid) if rid in store.orders else php_json(_MISSING["order"])
    elif resource == "customer":
        body = store.customer_json(rid) if rid in store.customers else php_json(_MISSING["customer"])
    else:
        body = php_json({"action": wh["hooks"][0], "arg": rid} if resource == "action" else [])
    now = calendar.timegm(store.clock.now().timetuple())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-WC-Webhook-Source": store.base_url + "/", "X-WC-Webhook-Topic": wh["topic"],
               "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
               "X-WC-Webhook-Signature": signature(body, wh["secret"]),
               "X-WC-Webhook-ID": str(wh["id"]),
               "X-WC-Webhook-Delivery-ID": wp_hash(f"{wh['id']}{now}", store.salt)}
    return wh["delivery_url"], body, headers


def deliver_pending(store):
    """Run the queue: optional reordering and duplicates, then one POST per delivery."""
    with store.lock:
        batch, store.pending = store.pending, []
        store._pending_keys.clear()
        rng = store.delivery_rng
        if store.reorder_rate:
            for i in range(len(batch) - 1):
                if rng.random() < store.reorder_rate:
                    batch[i], batch[i + 1] = batch[i + 1], batch[i]
    results = []
    for item in batch:
        with store.lock:
            wh = store.webhooks.get(item["webhook_id"])
            if wh is None:  # deleted meanwhile: the scheduled action finds nothing to send
                continue
            url, body, headers = build(store, wh, item)
            copies = 2 if store.duplicate_rate and rng.random() < store.duplicate_rate else 1
        for copy in range(copies):
            status, error, answer = post(url, body, headers, store.delivery_timeout)
            with store.lock:
                store.record_delivery_outcome(wh, status)
                result = {"webhook_id": wh["id"], "topic": wh["topic"], "resource_id": item["resource_id"],
                          "url": url, "status": status, "error": error, "body": body, "headers": headers,
                          "duplicate": copy > 0, "at": iso(store.clock.now()), "response": answer[:2000],
                          "webhook_status": wh["status"]}
                store.deliveries.append(result)
            results.append(result)
    return results


def send_ping(store, wh):
    """WC_Webhook::deliver_ping: form body webhook_id=N, no X-WC-* headers, no signature.
    Only an exact 200 clears pending_delivery."""
    body = f"webhook_id={wh['id']}".encode()
    # No Content-Type is set; WordPress's transports then send the form default.
    headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
    status, error, _ = post(wh["delivery_url"], body, headers, store.delivery_timeout)
    with store.lock:
        if status == 200:
            wh["pending_delivery"] = False
        result = {"webhook_id": wh["id"], "url": wh["delivery_url"], "status": status, "error": error,
                  "body": body, "at": iso(store.clock.now())}
        store.pings.append(result)
    return result
