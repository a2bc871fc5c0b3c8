"""Processing a store's waiting order deliveries together, oldest first, through the batch path.

A busy shop sends hundreds of order.updated deliveries a minute; each still gets its own task (a
message per delivery, so none is lost), but the task that runs first takes the store's oldest
waiting order deliveries, up to BATCH, and applies them as one batch (batch.orders_apply_many);
the tasks of the deliveries it took find them finished and return. Each delivery still ends with
its own status, as inbound_event_process would give it: processed, stale, ignored, or duplicate
(its twin was processed first), and a payload that cannot be read fails on its own
(sync_failure) without holding back the others.

Deliveries are taken with FOR UPDATE SKIP LOCKED, so two workers drain different deliveries, and
every delivery's changes and its status commit together. Other topics (order.deleted, customer.*)
end a batch and are processed one by one, in their place in the order of arrival.
"""

import functools
import json
import logging

from django.db import connection, transaction
from django.utils import timezone

from integrations.models import InboundEvent, StoreConnection
from integrations.woocommerce import batch
from integrations.woocommerce.fields import PayloadError
from integrations.woocommerce.processing import FINISHED, _OUTCOME_STATUS, inbound_event_fail, inbound_event_process
from lifecycle.actors import Actor
from lifecycle.services import rows

log = logging.getLogger(__name__)
S = InboundEvent.Status
BATCH = 200
ORDER_UPSERTS = ("order.created", "order.updated", "order.restored")


def inbound_event_process_with_waiting(*, event_id):
    """Process the delivery together with the order deliveries of its store that wait with it (up
    to BATCH, oldest first); returns the delivery's final status.

    When the batch fails as a whole (a deadlock, a bug one payload triggers), nothing of it is
    kept and the delivery is processed alone, so its error, if any, is its own (the task's retries).
    """
    status, store_id, topic = _look(event_id)
    if status in FINISHED:
        return status  # most tasks of a busy store: an earlier task's batch took their delivery
    if store_id is None or topic not in ORDER_UPSERTS:
        return inbound_event_process(event_id=event_id)
    try:
        with transaction.atomic():
            taken = _take_waiting(store_id)
            failed = _apply(taken) if taken else []
    except Exception:
        log.exception("batch of store %s's deliveries failed; delivery %s goes alone", store_id, event_id)
        return inbound_event_process(event_id=event_id)
    for taken_event, error in failed:
        inbound_event_fail(event_id=taken_event.pk, error=error, final=True)
    if any(e.pk == event_id for e in taken):
        return _look(event_id)[0]
    # Held by another worker's batch (this waits for it), or beyond this batch: processed alone.
    return inbound_event_process(event_id=event_id)


@functools.cache
def _look_sql():
    table, column = InboundEvent._meta.db_table, InboundEvent._meta.get_field
    return (f"SELECT {column('status').column}, {column('store').column}, {column('topic').column} "
            f"FROM {table} WHERE {InboundEvent._meta.pk.column} = %s")


def _look(event_id):
    """(status, store id, topic) of a delivery: the one read every task makes, so written as SQL
    (building the ORM query cost more than the database spent answering it)."""
    with connection.cursor() as cursor:
        cursor.execute(_look_sql(), [event_id])
        row = cursor.fetchone()
    if row is None:
        raise InboundEvent.DoesNotExist(f"delivery {event_id} does not exist")
    return row


def _take_waiting(store_id):
    """The store's oldest waiting deliveries, up to the first that is not an order upsert, locked;
    rows another worker holds are skipped."""
    waiting = list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(store_id=store_id, status=S.RECEIVED).order_by("pk")
        .only("store_id", "topic", "body", "dedupe_key", "delivery_id", "attempts")[:BATCH]
    )
    for n, event in enumerate(waiting):
        if event.topic not in ORDER_UPSERTS:
            return waiting[:n]
    return waiting


def _apply(events):
    """Apply the locked deliveries as one batch and record each one's status; returns the
    (event, PayloadError) pairs to fail once committed."""
    twins = _processed_twins(events)
    # Only the fields the batch reads: the store's secrets are encrypted, each read a decryption.
    store = StoreConnection.objects.only("slug", "name").get(pk=events[0].store_id)
    todo, first_of = [], {}
    for event in events:
        if event.dedupe_key in twins:
            event.status = S.DUPLICATE
        elif event.dedupe_key and event.dedupe_key in first_of:
            event.status = None  # decided by its twin in this batch, below
        else:
            if event.dedupe_key:
                first_of[event.dedupe_key] = event
            todo.append(event)
    items = [batch.Item(payload=json.loads(bytes(e.body)), actor=Actor.webhook(f"{store.slug}/{e.delivery_id or e.pk}"),
                        event_ref=f"delivery:{e.pk}") for e in todo]
    failed = []
    for event, outcome in zip(todo, batch.orders_apply_many(store=store, items=items)):
        if isinstance(outcome, PayloadError):
            failed.append((event, outcome))
            event.status = S.FAILED
        else:
            event.status = _OUTCOME_STATUS[outcome]
    now = timezone.now()
    for event in events:
        if event.status is None:
            twin = first_of[event.dedupe_key]
            event.status = S.DUPLICATE if twin.status == S.PROCESSED else twin.status
        if event.status != S.FAILED:
            event.processed_at, event.reason, event.attempts = now, "", event.attempts + 1
    done = [e for e in events if e.status != S.FAILED]
    rows.update_many(InboundEvent, done, ["status", "processed_at", "reason", "attempts"])
    return failed


def _processed_twins(events):
    keys = {e.dedupe_key for e in events if e.dedupe_key}
    return set(InboundEvent.objects.filter(dedupe_key__in=keys, status=S.PROCESSED)
               .values_list("dedupe_key", flat=True)) if keys else set()
