"""Turning a stored delivery into domain changes, once."""

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from integrations.models import InboundEvent
from integrations.woocommerce import intake, mappers, statuses
from integrations.woocommerce.client import StoreClient
from integrations.woocommerce.signatures import load_body
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind, Order, OrderState
from lifecycle.services.exceptions import exception_raise

S = InboundEvent.Status
FINISHED = {S.PROCESSED, S.DUPLICATE, S.STALE, S.IGNORED, S.REJECTED, S.MALFORMED}
WAITING = {S.RECEIVED, S.FAILED}  # not processed yet: a replay processes them for real
# Never applied, whoever asks: nothing vouches for these bodies, or there is no JSON to apply.
NOT_REPLAYABLE = {S.REJECTED: "its signature was never verified", S.MALFORMED: "its body is not JSON"}


ORDER_UPSERTS = ("order.created", "order.updated", "order.restored")
OUTCOME_STATUS = {intake.Outcome.APPLIED: S.PROCESSED, intake.Outcome.STALE: S.STALE,
                  intake.Outcome.IGNORED: S.IGNORED}


class ReplayRefused(Exception):
    pass


class MalformedBody(Exception):
    """A stored body that is not a delivery's JSON object (the receiver refuses those, with the same
    reading: signatures.load_body): the delivery ends malformed, no retry can read it."""


def payload_of(event):
    try:
        return load_body(bytes(event.body))
    except ValueError as error:
        raise MalformedBody(f"malformed JSON: {error}") from None


def order_item(event, actor, note_stale=True):
    """The delivery's order payload as intake takes it; MalformedBody when there is none."""
    return intake.Item(payload=payload_of(event), actor=actor, event_ref=f"delivery:{event.pk}",
                       note_stale=note_stale, received_at=event.received_at)


def delivery_actor(event, store_slug):
    return Actor.webhook(f"{store_slug}/{event.delivery_id or event.pk}")


def _apply(event, actor, replay):
    topic = event.topic
    if topic in ORDER_UPSERTS:
        [outcome] = intake.orders_apply(store=event.store, items=[order_item(event, actor, note_stale=not replay)])
        if isinstance(outcome, Exception):
            raise outcome  # the payload cannot be read: the caller fails the delivery for a person
        return outcome
    if topic == "order.deleted":
        return intake.order_apply_deleted(store=event.store, payload=payload_of(event), actor=actor,
                                          event_ref=f"delivery:{event.pk}")
    if topic in ("customer.created", "customer.updated"):
        return intake.customer_apply(store=event.store, payload=payload_of(event), actor=actor)
    # customer.deleted: the shop account is gone, the customer and their history stay.
    return intake.Outcome.IGNORED


def _trashed_again(event):
    """Whether a deletion like one applied before is a second one: WooCommerce's order.deleted body is
    only {"id": N} and its signature covers only the body, so a replay of the first and a trash after a
    restore look alike. The shop decides, asked only when the console's order is not deleted now: it
    is applied when the shop has the order in the trash, or no longer at all. An unreachable shop
    fails the delivery, retried like any other."""
    if event.topic != "order.deleted":
        return False
    try:
        external_id = mappers.map_deleted(payload_of(event))
    except (MalformedBody, mappers.PayloadError):
        return False
    order = Order.objects.filter(system=statuses.SYSTEM, namespace=event.store.slug, external_id=external_id).first()
    if order is None or order.state == OrderState.DELETED:
        return False
    # Two tries: a drain waits on this; the delivery's own retries come later, behind the others.
    return StoreClient(event.store, max_tries=2).order_status(external_id) in (None, intake.TRASH)


def inbound_event_process(*, event_id, replay=False):
    """Apply a stored delivery; returns its final status.

    A finished event is left alone unless replayed; a replay runs the same idempotent path, so it
    changes nothing that the first run did not (and reports stale/duplicate).
    """
    with transaction.atomic():
        # The duplicate check rides along with the locked read: one round trip, not two.
        processed_twin = InboundEvent.objects.filter(
            dedupe_key=OuterRef("dedupe_key"), status=S.PROCESSED
        ).exclude(pk=OuterRef("pk"))
        event = (
            InboundEvent.objects.select_for_update(of=("self",)).select_related("store")
            .annotate(duplicate=Exists(processed_twin)).get(pk=event_id)
        )
        if event.status in FINISHED and not replay:
            return event.status
        actor = delivery_actor(event, event.store.slug)
        reason = ""
        if not replay and event.dedupe_key and event.duplicate and not _trashed_again(event):
            outcome_status = S.DUPLICATE
        else:
            try:
                outcome_status = OUTCOME_STATUS[_apply(event, actor, replay)]
            except MalformedBody as error:  # raised before anything was written
                outcome_status, reason = S.MALFORMED, str(error)
        if not replay:
            event.status, event.processed_at, event.reason = outcome_status, timezone.now(), reason
            event.attempts += 1
            event.save(update_fields=["status", "processed_at", "reason", "attempts"])
    return outcome_status


def inbound_event_fail(*, event_id, error, final):
    """Keep the delivery for replay; after the last retry, a sync_failure exception owns it."""
    event = InboundEvent.objects.select_related("store").get(pk=event_id)
    InboundEvent.objects.filter(pk=event_id).update(status=S.FAILED, reason=str(error)[:2000],
                                                    attempts=event.attempts + 1)
    if final:
        exception_raise(
            kind=ExceptionKind.SYNC_FAILURE, subject_key=f"inbound:{event_id}",
            actor=Actor.task("process_inbound_event"),
            summary=f"{event.store.name if event.store else 'WooCommerce'}: delivery {event_id} "
                    f"({event.topic}) failed: {error}"[:300],
            evidence={"event_id": event_id, "topic": event.topic, "error": str(error)[:2000]},
        )


def inbound_event_replay(*, event_id):
    """An operator's replay: a waiting or failed delivery is processed now, a finished one runs the
    same idempotent path again (which changes nothing and says why); returns the outcome status.

    Refused (ReplayRefused) for deliveries nothing may apply. When processing a waiting delivery
    fails, the failure is recorded as its reason (not final: the task's retries still own it), and
    the error is raised for the operator to see.
    """
    event = InboundEvent.objects.only("status", "store_id").get(pk=event_id)
    if event.status in NOT_REPLAYABLE or event.store_id is None:
        raise ReplayRefused(NOT_REPLAYABLE.get(event.status, "its store was removed"))
    waiting = event.status in WAITING
    try:
        return inbound_event_process(event_id=event_id, replay=not waiting)
    except Exception as error:
        if waiting:
            inbound_event_fail(event_id=event_id, error=error, final=False)
        raise
