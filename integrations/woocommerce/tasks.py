"""WooCommerce tasks: thin, ids only; the work is in processing.py, draining.py and backfill.py."""

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from integrations.models import StoreConnection
from integrations.woocommerce.backfill import SyncBusy, store_backfill
from integrations.woocommerce.draining import describe, store_drain, waiting_stores
from integrations.woocommerce.processing import inbound_event_fail, inbound_event_process
from integrations.woocommerce.wakeups import wakeups
from lifecycle.actors import Actor
from lifecycle.values import ObservationError

WAITING_TOO_LONG = timedelta(minutes=1)
# Backoff doubles from 2 s: a database hiccup or a lock clears well within the five tries.
MAX_RETRIES = 5
# A backfill retries only on the database (a deadlock with a webhook on the same order): the store's
# own failures are retried inside the client and then left to the next beat run, 15 minutes on.
BACKFILL_RETRIES = 3


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def process_inbound_event(self, event_id):
    try:
        return inbound_event_process(event_id=event_id)
    except ObservationError as error:
        # The payload itself is wrong: retrying cannot help, a person must look at it.
        inbound_event_fail(event_id=event_id, error=error, final=True)
        return "failed"
    except Exception as error:
        # Said by its kind and constraint: a database error quotes the values it refused (customers'
        # emails), and the reason is shown to operators and logged by Celery with each retry.
        reason = describe(error)
        final = self.request.retries >= self.max_retries
        inbound_event_fail(event_id=event_id, error=reason, final=final)
        if final:
            raise
        raise self.retry(exc=RetryLater(reason), countdown=2 ** (self.request.retries + 1))


class RetryLater(Exception):
    """What a retried delivery failed with, in words safe to log."""


@shared_task(acks_late=True)
def drain_store(store_id):
    """Process the store's waiting deliveries (woken by the receiver: wakeups.py; see draining.py);
    a store with more than one drain's share waiting gets a new drain, behind the other stores' work."""
    taken, more = store_drain(store_id=store_id, retry_later=_retry_later, started=lambda: wakeups.started(store_id))
    if more:
        wakeups.wake(store_id)
    return taken


def _retry_later(event_id):
    process_inbound_event.apply_async(args=[event_id], countdown=2)


@shared_task
def drain_waiting_stores():
    """Beat: wake the drain of every store whose deliveries have waited past a minute (a wake-up
    lost with a broker or a worker), whether or not one is marked pending; a store drained
    meanwhile costs one empty look."""
    store_ids = waiting_stores(timezone.now() - WAITING_TOO_LONG)
    for store_id in store_ids:
        drain_store.delay(store_id)
    return len(store_ids)


@shared_task
def sync_woocommerce_stores():
    """Beat: one backfill per active store, each failing and retrying on its own."""
    store_ids = list(StoreConnection.objects.filter(is_active=True).values_list("pk", flat=True))
    for store_id in store_ids:
        backfill_store.delay(store_id)
    return len(store_ids)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=BACKFILL_RETRIES, acks_late=True)
def backfill_store(store_id):
    """Resume the store's backfill from its cursor; a rerun reads on from the last committed page."""
    store = StoreConnection.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return "inactive"
    try:
        return store_backfill(store=store, actor=Actor.task("sync_woocommerce")).status
    except SyncBusy:
        return "busy"  # the running one covers it
