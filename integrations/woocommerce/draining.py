"""Processing a store's waiting deliveries, oldest first: order upserts in batches, others alone.

A busy shop sends hundreds of order.updated deliveries a minute. The receiver stores each one and
wakes the store's drain (wakeups.py); the drain takes the store's oldest waiting deliveries, up
to BATCH, and applies the leading run of order upserts as one batch (intake.orders_apply),
until nothing waits. Each delivery still ends with its own status, as inbound_event_process would
give it: processed, stale, ignored, or duplicate (its twin was processed first); a payload that
cannot be read fails on its own (sync_failure) without holding back the others. Other topics
(order.deleted, customer.*) are processed alone, in their place in the order of arrival.

One drain of a store runs at a time: each batch first takes the store's drain lock (a second drain
woken meanwhile waits for it, then finds what is left), so two drains never race to create the
same order or customer. Under the lock, before reading, a batch clears the store's pending mark
(`started`, wakeups.py): a delivery committed after that queues the next drain. Deliveries are
taken with FOR UPDATE SKIP LOCKED besides, and a batch's changes and its deliveries' statuses
commit together. When a batch fails as
a whole (a deadlock, a bug one payload triggers), nothing of it is kept and each of its deliveries
is then processed alone, so one bad delivery costs one rollback, never its neighbours; a delivery
that fails alone is left to its own retries (the task's) and the drain goes on with the next.
"""

import logging

from django.db import DatabaseError, transaction
from django.utils import timezone

from integrations.models import InboundEvent, StoreConnection
from integrations.woocommerce import intake
from integrations.woocommerce.processing import (
    ORDER_UPSERTS,
    OUTCOME_STATUS,
    MalformedBody,
    delivery_actor,
    inbound_event_fail,
    inbound_event_process,
    order_item,
)
from lifecycle.db import locks, rows
from lifecycle.values import ObservationError

log = logging.getLogger(__name__)
S = InboundEvent.Status
BATCH = 200
MAX_BATCHES = 50


def store_drain(*, store_id, max_batches=MAX_BATCHES, retry_later=None, started=None):
    """Process the store's waiting deliveries; returns (how many were taken, whether some still
    wait). After `max_batches` the rest is left to a new drain (so one busy store does not hold a
    worker from the others). `retry_later(event_id)` schedules a delivery that failed alone;
    `started()` runs under the drain lock before each batch reads what waits."""
    taken = 0
    for _ in range(max_batches):
        count = drain_once(store_id, retry_later=retry_later, started=started)
        if not count:
            return taken, False
        taken += count
    return taken, True


def drain_once(store_id, retry_later=None, started=None):
    """One batch of the store's waiting deliveries, or its oldest one alone; how many it took."""
    run, waiting = [], []
    try:
        with transaction.atomic():
            locks.lock_keys([("drain", store_id)])
            if started:
                started()
            waiting = _take_waiting(store_id)
            run = _leading_upserts(waiting)
            failed = _apply(run) if run else []
    except Exception as error:
        # Nothing of the batch was kept; what it held (as read before the rollback) goes alone.
        log.error("a batch of store %s's deliveries failed (%s); each goes alone", store_id, describe(error))
        alone = [e.pk for e in run] or [e.pk for e in waiting[:1]] or _oldest_waiting(store_id)
        for event_id in alone:
            _process_alone(event_id, retry_later)
        return len(alone)
    for event, error in failed:
        inbound_event_fail(event_id=event.pk, error=error, final=True)
    if run:
        return len(run)
    if waiting:  # another topic first: that delivery alone
        _process_alone(waiting[0].pk, retry_later)
        return 1
    return 0


def describe(error):
    """What went wrong, for the log, without the values a database error quotes (customer emails)."""
    if isinstance(error, DatabaseError):
        diag = getattr(error.__cause__, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        return f"{type(error).__name__}" + (f" on {constraint}" if constraint else "")
    return f"{type(error).__name__}: {error}"


def _oldest_waiting(store_id):
    return list(InboundEvent.objects.filter(store_id=store_id, status=S.RECEIVED).order_by("pk")
                .values_list("pk", flat=True)[:1])


def _process_alone(event_id, retry_later):
    """inbound_event_process, failing the way the task does: a bad payload at once, anything else
    to the task's retries (the delivery leaves the waiting ones, so the drain goes on)."""
    try:
        inbound_event_process(event_id=event_id)
    except ObservationError as error:
        inbound_event_fail(event_id=event_id, error=error, final=True)
    except Exception as error:
        log.error("delivery %s failed (%s); its task retries it", event_id, describe(error))
        inbound_event_fail(event_id=event_id, error=describe(error), final=False)
        if retry_later:
            retry_later(event_id)


def waiting_stores(older_than):
    """Stores with deliveries waiting since before `older_than` (a lost wake-up): for the sweep."""
    return list(InboundEvent.objects.filter(status=S.RECEIVED, received_at__lt=older_than, store__isnull=False)
                .order_by().values_list("store_id", flat=True).distinct())


def _take_waiting(store_id):
    """The store's oldest waiting deliveries, locked; rows another drain holds are skipped."""
    return list(
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(store_id=store_id, status=S.RECEIVED).order_by("pk")
        .only("store_id", "topic", "body", "dedupe_key", "delivery_id", "attempts", "received_at")[:BATCH]
    )


def _leading_upserts(waiting):
    """The order upserts before the first delivery of another topic."""
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
    readable, items, reasons = [], [], {}
    for event in todo:
        try:
            items.append(order_item(event, delivery_actor(event, store.slug)))
            readable.append(event)
        except MalformedBody as error:  # ends malformed; the others go on as one batch
            event.status, reasons[event.pk] = S.MALFORMED, str(error)
    failed = []
    for event, outcome in zip(readable, intake.orders_apply(store=store, items=items) if items else []):
        if isinstance(outcome, ObservationError):
            failed.append((event, outcome))
            event.status = S.FAILED
        else:
            event.status = OUTCOME_STATUS[outcome]
    now = timezone.now()
    for event in events:
        if event.status is None:
            twin = first_of[event.dedupe_key]
            event.status = S.DUPLICATE if twin.status == S.PROCESSED else twin.status
        if event.status != S.FAILED:
            event.processed_at, event.reason, event.attempts = now, reasons.get(event.pk, ""), event.attempts + 1
    done = [e for e in events if e.status != S.FAILED]
    rows.update_many(InboundEvent, done, ["status", "processed_at", "reason", "attempts"])
    return failed


def _processed_twins(events):
    keys = {e.dedupe_key for e in events if e.dedupe_key}
    return set(InboundEvent.objects.filter(dedupe_key__in=keys, status=S.PROCESSED)
               .values_list("dedupe_key", flat=True)) if keys else set()
