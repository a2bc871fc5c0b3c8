"""The WooCommerce webhook receiver: verify, store raw in one insert, wake the store's drain, answer.

No domain work happens in the request: WooCommerce waits for our answer (and disables a webhook
that keeps failing), so the receiver only proves the delivery is the shop's and keeps it.

Anyone can POST here, so the size is checked before anything else (nothing is read of a body over
the limit, and no secret is loaded for it), and the store's webhook secret never appears in an error
page or a log: the receiver's locals are sensitive variables (console/reporting.py hides them with
DEBUG on too), and it never holds the secret itself (_Store.verifies uses it; its repr leaves it out).
Refusals are recorded up to a rate per store, signed deliveries always (refusals.py).
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from integrations.models import InboundEvent, StoreConnection
from integrations.woocommerce import mappers, refusals
from integrations.woocommerce.signatures import SIGNATURE_HEADER, TOPIC_HEADER, is_ping, load_body, verify_signature
from integrations.woocommerce.wakeups import wakeups
from lifecycle.config_cache import ConfigCache
from lifecycle.db import rows

log = logging.getLogger(__name__)

HANDLED_TOPICS = frozenset({
    "order.created", "order.updated", "order.deleted", "order.restored",
    "customer.created", "customer.updated", "customer.deleted",
})
# Kept with the raw body so operators see the delivery as WooCommerce sent it.
KEPT_HEADERS = ("content-type", "user-agent")
# A body is read this much at a time, so at most the limit and one chunk are ever in memory.
READ_CHUNK = 64 * 1024


def _headers(request):
    return {k: v for k, v in request.headers.items() if k.lower().startswith("x-wc-") or k.lower() in KEPT_HEADERS}


def _read_body(request, limit):
    """(body, None), or (None, what was seen) when the body is over `limit` bytes. A declared
    Content-Length over the limit is refused before a byte is read; a body without one (streamed)
    is read until it passes the limit, never further."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None, f"{declared:,} bytes declared"
    chunks, size = [], 0
    while size <= limit:
        chunk = request.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        return None, f"more than {limit:,} bytes sent"
    return b"".join(chunks), None


def _refuse_too_large(request, store_slug, seen, limit):
    """413, recorded as a rejected delivery of the store without its body: a flood of large bodies
    costs a small row each (and none past the store's rate of refusals), and no secret is loaded
    (the store's id is all the row needs)."""
    reason = f"body too large ({seen}; the limit is {limit:,}): not kept"
    store_id = StoreConnection.objects.filter(slug=store_slug, is_active=True).values_list("pk", flat=True).first()
    # an unknown store has nowhere to record it, as for any delivery
    if store_id is not None and refusals.may_record(store_id):
        event = _store(store_id, b"", _headers(request), InboundEvent.Status.REJECTED, reason)
        log.warning("rejected webhook delivery %s for store %s: %s", event.pk, store_slug, reason)
    return JsonResponse({"error": f"Body too large: the limit is {limit:,} bytes."}, status=413)


def _too_many_refusals():
    response = JsonResponse({"error": "Too many refused deliveries for this store this minute: this one was neither "
                                      "kept nor processed. Deliveries with a valid signature are still accepted."},
                            status=429)
    response["Retry-After"] = refusals.RETRY_AFTER
    return response


def _store(store_id, raw, headers, status, reason="", **fields):
    # Hand-built: compiling the ORM's insert cost more than the database spent on it.
    event = InboundEvent(
        store_id=store_id, headers=headers, body=raw, body_sha256=hashlib.sha256(raw).hexdigest(), status=status,
        reason=reason, topic=headers.get("X-Wc-Webhook-Topic", "")[:64],
        delivery_id=headers.get("X-Wc-Webhook-Delivery-Id", "")[:64], **fields,
    )
    try:
        return rows.insert_returning_pk(event)
    except (OperationalError, InterfaceError):
        # Django checks a kept connection with a round trip before a request's first query; this
        # path skips that check (usually the request's only query) and reconnects once instead,
        # when the insert finds the connection gone (the database restarted since the last request).
        if connection.in_atomic_block or connection.is_usable():
            raise
        log.warning("database connection lost since the last delivery: reconnecting")
        connection.close()
        return rows.insert_returning_pk(event)


# Every delivery needs its store's secret: kept per process for a few seconds (a query and a
# decryption saved per delivery). A secret rotated meanwhile is read afresh when a signature fails
# against the kept one; a store deactivated elsewhere is refused within STORE_SECONDS.
STORE_SECONDS = 10.0
_stores = ConfigCache("receiver_store", lifetime=STORE_SECONDS)


@receiver([post_save, post_delete], sender=StoreConnection)
def _store_changed(sender, **kwargs):
    _stores.changed()


@dataclass(frozen=True)
class _Store:
    pk: int
    slug: str
    webhook_secret: str = field(repr=False)  # error pages print locals' reprs

    def verifies(self, raw, signature):
        return verify_signature(raw, self.webhook_secret, signature)


def _load_store(slug):
    # Only what the request uses: every encrypted field loaded is a Fernet decryption.
    store = StoreConnection.objects.filter(slug=slug, is_active=True).only("slug", "webhook_secret").first()
    return store and _Store(store.pk, store.slug, store.webhook_secret)


# A signature failing against the kept secret reads the store afresh at most this often: a flood of
# forged deliveries costs the database a query a second, not one each.
FRESH_SECONDS = 1.0
_read_afresh_at = {}  # slug -> when it was last read afresh for a failed signature


def _active_store(slug, fresh=False):
    """The active store of that slug (kept STORE_SECONDS), or None. Only that slug's entry is ever
    dropped here: a flood of unknown slugs or forged signatures never makes the other stores' valid
    deliveries read and decrypt their secrets again."""
    if fresh:
        now = time.monotonic()
        if now - _read_afresh_at.get(slug, float("-inf")) < FRESH_SECONDS:
            return _stores.get("receiver_store", slug, _load_store)
        _read_afresh_at[slug] = now
        _stores.forget("receiver_store", slug)
    store = _stores.get("receiver_store", slug, _load_store)
    if store is None:
        _stores.forget("receiver_store", slug)  # not remembered: a store connected meanwhile works at once
    return store


@csrf_exempt
@require_POST
@sensitive_post_parameters()
@sensitive_variables()
def receive(request, store_slug):
    limit = settings.AFTERCARE_WEBHOOK_MAX_BYTES
    raw, too_large = _read_body(request, limit)
    if raw is None:
        return _refuse_too_large(request, store_slug, too_large, limit)
    store = _active_store(store_slug)
    if store is None:
        return JsonResponse({"error": f"No active store {store_slug!r}."}, status=404)
    if is_ping(request.content_type, raw, request.headers):
        # WooCommerce disables a new webhook unless its unsigned ping gets a 200: answer, do nothing.
        log.info("webhook ping for store %s: %s", store.slug, raw[:64])
        return JsonResponse({"ok": True, "ping": True})
    headers = _headers(request)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not store.verifies(raw, signature) and signature:
        store = _active_store(store_slug, fresh=True)  # the kept secret may have been rotated since
        if store is None:
            return JsonResponse({"error": f"No active store {store_slug!r}."}, status=404)
    if not store.verifies(raw, signature):
        if not refusals.may_record(store.pk):
            return _too_many_refusals()
        reason = "missing signature" if not signature else "signature does not match the store's webhook secret"
        event = _store(store.pk, raw, headers, InboundEvent.Status.REJECTED, reason)
        log.warning("rejected webhook delivery %s for store %s: %s", event.pk, store.slug, reason)
        return JsonResponse({"error": f"Invalid webhook: {reason}."}, status=401)
    topic = request.headers.get(TOPIC_HEADER, "")
    try:
        payload = load_body(raw)
    except ValueError as error:
        if not refusals.may_record(store.pk):
            return _too_many_refusals()
        event = _store(store.pk, raw, headers, InboundEvent.Status.MALFORMED, f"malformed JSON: {error}")
        log.warning("malformed webhook delivery %s for store %s: %s", event.pk, store.slug, error)
        return JsonResponse({"error": f"Malformed JSON body: {error}."}, status=400)
    if topic not in HANDLED_TOPICS:
        _store(store.pk, raw, headers, InboundEvent.Status.IGNORED, f"topic {topic!r} is not handled")
        return JsonResponse({"ok": True, "ignored": topic})
    resource = topic.split(".", 1)[0]
    resource_id = str(payload.get("id", ""))[:64]
    modified = str(payload.get("date_modified_gmt") or "")[:32]
    # One insert, committed on its own (autocommit), so the store's drain is woken right after it;
    # inside a caller's transaction it still waits for that commit. No BEGIN/COMMIT of our own.
    event = _store(
        store.pk, raw, headers, InboundEvent.Status.RECEIVED, resource=resource, resource_id=resource_id,
        modified_gmt=modified,
        dedupe_key=mappers.dedupe_key(store.slug, resource, resource_id, modified, raw),
    )
    store_id = store.pk
    transaction.on_commit(lambda: wakeups.wake(store_id))
    return JsonResponse({"ok": True, "event": event.pk})

