"""HubSpot's webhooks: a faster path for what the pulls would find a minute later.

POST /webhooks/hubspot/<connection id>/ takes a JSON array of up to 100 events. The receiver does no
domain work: it limits the body's size before reading it (the shop receiver's reader), refuses a
timestamp older than MAX_AGE (401, logged: a replayed delivery), checks the v3 signature
(base64 HMAC-SHA256 of method + URI + body + timestamp under the app's client secret; 401, logged),
and stores the delivery raw (InboundEvent, source "hubspot") before answering; a worker processes it
after the commit. Refused deliveries are kept too, for operators, as the shop's are.

Processing goes the pulls' way (one path): a contact's owner or stage change becomes a ContactFact
for inbound.contacts_apply, a deal's stage change a DealFact for deals.deals_apply, stamped with the
event's occurredAt so a late delivery never overrides a newer word. Creations and other properties
are left to the pulls, which read the whole record. A delivery that fails is kept (failed) and tried
again by the pull task's drain, MAX_ATTEMPTS times, then opens `sync_failure`.
"""

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from integrations.crm import deals, inbound
from integrations.crm.models import CrmConnection, CrmDeal, CrmWebhookSecret
from integrations.models import InboundEvent
from integrations.woocommerce.webhooks import _read_body as read_body  # the one size-limited reader
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.exceptions import exception_raise

log = logging.getLogger(__name__)

SOURCE = "hubspot"
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE = timedelta(minutes=5)  # HubSpot's own advice for v3: older requests are refused
# A clock this far ahead is not HubSpot's (it stamps when it sends); refused like an old one.
MAX_AHEAD = timedelta(minutes=5)
MAX_ATTEMPTS = 5  # processing a delivery: then a person looks (the pulls still bring its changes)
RESOURCE = "crm_connection"  # InboundEvent.resource: resource_id names the connection
DEAL_ID_LENGTH = CrmDeal._meta.get_field("deal_id").max_length
DEAL_STAGE_LENGTH = CrmDeal._meta.get_field("dealstage").max_length
S = InboundEvent.Status
# HubSpot decodes these in the URI before signing (its v3 docs); nothing else.
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def signature_v3(secret, method, uri, body, timestamp):
    source = method.encode() + uri.encode() + body + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def signed_uri(uri):
    for escape in _DECODED:
        uri = uri.replace(escape, unquote(escape)).replace(escape.lower(), unquote(escape))
    return uri


@sensitive_variables("secret")
def signature_ok(secret, method, uri, body, timestamp, signature):
    """True only for the signature of these exact bytes; no secret, no signature: False."""
    if not secret or not signature or not timestamp:
        return False
    expected = signature_v3(secret, method, signed_uri(uri), body, timestamp)
    return hmac.compare_digest(expected.encode(), str(signature).encode())


def timestamp_fresh(timestamp, now):
    """Whether HubSpot's request timestamp (epoch ms) is within MAX_AGE before now (MAX_AHEAD after)."""
    try:
        sent = datetime.fromtimestamp(int(timestamp) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return False
    return now - MAX_AGE <= sent <= now + MAX_AHEAD


def _headers(request):
    return {k: v for k, v in request.headers.items() if k.lower().startswith("x-hubspot-")
            or k.lower() in ("content-type", "user-agent")}


def _keep(connection_id, raw, headers, status, reason="", **fields):
    return InboundEvent.objects.create(
        source=SOURCE, resource=RESOURCE, resource_id=str(connection_id), headers=headers, body=raw,
        body_sha256=hashlib.sha256(raw).hexdigest(), status=status, reason=reason, **fields)


def _refuse(connection_id, raw, headers, status, reason, answer):
    event = _keep(connection_id, raw, headers, status, reason)
    log.warning("refused HubSpot webhook delivery %s for CRM connection %s: %s", event.pk, connection_id, reason)
    return JsonResponse({"error": answer}, status=401 if status == S.REJECTED else 400)


@csrf_exempt
@require_POST
@sensitive_variables()
def receive(request, connection_id):
    limit = settings.AFTERCARE_WEBHOOK_MAX_BYTES
    raw, too_large = read_body(request, limit)
    connection = CrmConnection.objects.filter(pk=connection_id, is_active=True).only("pk").first()
    if connection is None:
        return JsonResponse({"error": f"No active CRM connection {connection_id}."}, status=404)
    headers = _headers(request)
    if raw is None:
        _keep(connection.pk, b"", headers, S.REJECTED,
              f"body too large ({too_large}; the limit is {limit:,}): not kept")
        return JsonResponse({"error": f"Body too large: the limit is {limit:,} bytes."}, status=413)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not timestamp_fresh(timestamp, timezone.now()):
        return _refuse(connection.pk, raw, headers, S.REJECTED, f"request timestamp {timestamp!r} is missing or "
                       "more than 5 minutes from now (a replay?)", "Invalid webhook: stale or missing timestamp.")
    secret = CrmWebhookSecret.objects.filter(connection=connection).values_list("secret", flat=True).first()
    if not signature_ok(str(secret or ""), request.method, request.build_absolute_uri(), raw, timestamp,
                        request.headers.get(SIGNATURE_HEADER)):
        why = "no webhook secret is set for the connection" if not secret else "signature v3 does not match"
        return _refuse(connection.pk, raw, headers, S.REJECTED, why, f"Invalid webhook: {why}.")
    try:
        events = json.loads(raw)
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise ValueError("not an array of events")
    except ValueError as error:
        return _refuse(connection.pk, raw, headers, S.MALFORMED, f"malformed body: {error}", "Malformed JSON body.")
    kinds = sorted({str(e.get("subscriptionType", ""))[:40] for e in events})
    event = _keep(connection.pk, raw, headers, S.RECEIVED, topic=",".join(kinds)[:64],
                  delivery_id=str(events[0].get("eventId", ""))[:64] if events else "",
                  dedupe_key=hashlib.sha256(json.dumps(sorted(str(e.get("eventId")) for e in events)).encode())
                  .hexdigest())
    event_id = event.pk
    transaction.on_commit(lambda: _process_soon(event_id), robust=True)
    return JsonResponse({"ok": True, "event": event_id})


def webhook_secret_set(*, connection, secret, actor):
    """Store the HubSpot app's client secret that signs the connection's webhooks (encrypted);
    HubSpot is then told to call webhook_path(connection). For operations."""
    if not actor.has_perm("crm.change_crmwebhooksecret"):
        raise PermissionDenied("Only operations set the CRM's webhook secret.")
    secret = (secret or "").strip()
    if not secret:
        raise ServiceError("The webhook secret is the HubSpot app's client secret; it cannot be empty.")
    CrmWebhookSecret.objects.update_or_create(connection=connection,
                                              defaults={"secret": secret, "updated_at": timezone.now()})


def webhook_path(connection):
    return reverse("hubspot-webhook", kwargs={"connection_id": connection.pk})


def _process_soon(event_id):
    from integrations.crm.tasks import process_crm_webhook  # the tasks import the services

    process_crm_webhook.delay(event_id)


# --- processing ---------------------------------------------------------------------------------
def facts_from_events(events):
    """(contact facts, deal facts) of a delivery's events (pure): owner and stage changes of
    contacts, stage changes of deals; anything else is the pulls' to read."""
    contacts, deal_facts = [], {}
    for e in events:
        try:
            object_id, at = str(int(e["objectId"])), datetime.fromtimestamp(int(e["occurredAt"]) / 1000, UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            continue
        kind, name, value = e.get("subscriptionType"), e.get("propertyName"), str(e.get("propertyValue") or "")
        if not object_id.isdigit() or len(object_id) > min(inbound.ID_LENGTH, DEAL_ID_LENGTH):
            continue  # no HubSpot id is negative or that long: the pulls read what is real
        if kind == "contact.propertyChange" and name == inbound.OWNER:
            contacts.append(inbound.ContactFact(object_id, owner=(value, at)))
        elif kind == "contact.propertyChange" and name == inbound.STAGE:
            contacts.append(inbound.ContactFact(object_id, stage=(value, at)))
        elif kind == "deal.propertyChange" and name == deals.STAGE_PROPERTY and value and inbound.fits(
                value, DEAL_STAGE_LENGTH):
            if object_id not in deal_facts or at >= deal_facts[object_id].modified_at:
                deal_facts[object_id] = deals.DealFact(object_id, at, value)
    return contacts, list(deal_facts.values())


def webhook_process(*, event_id):
    """Apply one stored delivery (received, or failed before); returns its status, or None when
    there is nothing to do (processed already, or another worker has it). A rerun is a no-op."""
    try:
        with transaction.atomic():
            event = (InboundEvent.objects.select_for_update(skip_locked=True)
                     .filter(pk=event_id, source=SOURCE, status__in=[S.RECEIVED, S.FAILED]).first())
            if event is None:
                return None
            connection = CrmConnection.objects.filter(pk=int(event.resource_id or 0), is_active=True).first()
            if connection is None:
                return _done(event, S.IGNORED, "the CRM connection is gone or inactive")
            contacts, deal_facts = facts_from_events(json.loads(bytes(event.body)))
            if not contacts and not deal_facts:
                return _done(event, S.IGNORED, "no owner, stage or deal stage change in it (the pulls read the rest)")
            actor = Actor.webhook(f"{connection.name} webhook #{event.pk}")
            applied = inbound.contacts_apply(connection=connection, facts=contacts, actor=actor)
            observed = deals.deals_apply(connection=connection, facts=deal_facts, actor=actor,
                                         event_ref=f"hubspot-webhook:{event.pk}")
            return _done(event, S.PROCESSED, f"{applied.matched} of {applied.seen} contacts and "
                                             f"{observed['observed']} of {len(deal_facts)} deals applied")
    except Exception as error:  # noqa: BLE001 - kept for the drain, and past MAX_ATTEMPTS for a person
        _failed(event_id, error)
        return S.FAILED


def _done(event, status, reason):
    event.status, event.reason, event.processed_at = status, reason, timezone.now()
    event.attempts += 1
    event.save(update_fields=["status", "reason", "processed_at", "attempts"])
    return status


def _failed(event_id, error):
    InboundEvent.objects.filter(pk=event_id).update(status=S.FAILED, reason=str(error)[:2000])
    event = InboundEvent.objects.get(pk=event_id)
    event.attempts += 1
    event.save(update_fields=["attempts"])
    log.exception("HubSpot webhook delivery %s failed (attempt %s)", event_id, event.attempts)
    if event.attempts >= MAX_ATTEMPTS:
        exception_raise(kind=ExceptionKind.SYNC_FAILURE, subject_key=f"crm:{event.resource_id}/webhooks",
                        actor=Actor.system("crm webhooks"),
                        summary=f"A HubSpot webhook delivery (#{event_id}) failed {event.attempts} times: {error}",
                        evidence={"event_id": event_id, "error": str(error)[:500], "connection_id": event.resource_id})


def webhooks_drain(*, connection, older_than=timedelta(minutes=1)):
    """Process the connection's deliveries whose wake-up was lost or that failed before (fewer than
    MAX_ATTEMPTS times); the pull task calls it every minute. Returns how many were tried."""
    waiting = list(InboundEvent.objects.filter(source=SOURCE, resource=RESOURCE, resource_id=str(connection.pk),
                                               received_at__lt=timezone.now() - older_than, attempts__lt=MAX_ATTEMPTS,
                                               status__in=[S.RECEIVED, S.FAILED]).order_by("pk")
                   .values_list("pk", flat=True)[:500])
    for event_id in waiting:
        webhook_process(event_id=event_id)
    return len(waiting)
