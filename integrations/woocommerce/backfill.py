"""REST backfill and repair: every order the shop changed since the store's cursor, into the domain.

Same mapping and idempotency as webhooks: a page goes through intake.orders_apply, the path a
delivery takes, so an order the console already has in that version changes nothing (stale), and
a rerun is a no-op.

Paging is by date, not by page number. Each request asks for page 1 of
`modified_after=<cursor>&orderby=modified&order=asc`; after the page is committed the cursor moves to
one second below the newest date_modified_gmt on it. Why not walk the page numbers of one query:
WooCommerce pages live data with OFFSET, and an order modified during the scan jumps to the end,
shifting every later row back by one, so the row at the next page boundary is never read (and,
unmodified, no later run reads it either). With a moving date nothing shifts under the cursor and a
modified order is simply read again at the end. Why one second below: modified_after is exclusive
and dates have one-second resolution, so the newest date itself would skip orders sharing that
second that fell on the next page. Re-reading that second costs an order or two per page: those
this run just applied are skipped, any others are not newer than what is stored (stale, no change).
When a whole page shares one second the date cannot move; the cursor keeps it and takes the next
page number instead (offset paging, confined to that second).

Crash safety: a page's orders, the cursor and the run's counters commit in one transaction, so the
cursor never points past an uncommitted order; a crash rolls the page back and the next run reads
it again from the cursor.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from integrations.models import SyncCursor, SyncRun
from integrations.woocommerce import intake
from integrations.woocommerce.client import StoreClient, StoreError, wc_datetime
from integrations.woocommerce.fields import as_utc, parse_gmt
from integrations.woocommerce.status_mappings import store_status_map
from lifecycle.models import ExceptionKind
from lifecycle.services.errors import ServiceError
from lifecycle.services.exceptions import exception_raise, exception_resolve
from lifecycle.services.observations import statistics_refresh
from lifecycle.services.reconcile import reconcile_soon
from lifecycle.values import ObservationError

R = SyncRun.Status
ONE_SECOND = timedelta(seconds=1)  # the resolution of WooCommerce's dates
# A running run that committed no page for this long has lost its worker (a page takes seconds,
# and even six retries with capped waits stay under six minutes): a new run may take the cursor over.
LEASE = timedelta(minutes=10)
ANALYZE_AFTER = 1000  # orders applied by a run before the tables' statistics are first refreshed
FAILED = "failed"  # the outcome of an order whose payload could not be read


class SyncBusy(ServiceError):
    """Another run is moving this store's cursor right now."""


@dataclass(frozen=True)
class Progress:
    run: SyncRun  # counters so far
    page: int  # pages committed by this run
    total_pages: int  # estimate: committed plus what the store still reports


def sync_subject(store):
    return f"store:{store.slug}/sync"


def webhooks_subject(store):
    return f"store:{store.slug}/webhooks"


def store_backfill(*, store, since=None, actor, progress=None, client=None):
    """Read every order modified after the cursor (or `since`, which moves the cursor) and apply it.

    Returns the SyncRun. A store that cannot be read (401, retries exhausted, a refused request)
    ends the run as failed with an open sync_failure exception, and returns: the next scheduled
    run tries again, no retry loop. Anything else (a bug, the database) is recorded the same way and
    re-raised. A successful run resolves the store's sync_failure, then checks its webhooks.
    Raises SyncBusy while another live run holds the cursor.
    """
    client = client or StoreClient(store)
    run = _run_start(store, since, actor)
    try:
        _scan(client, store, run, actor, progress)
        run.webhooks = webhooks_check(client=client, store=store, actor=actor)
    except StoreError as error:
        _run_finish(run, actor, error)
        return run
    except BaseException as error:  # Ctrl-C too: the cursor must not stay leased to a dead run
        _run_finish(run, actor, error)
        raise
    _run_finish(run, actor)
    if run.applied:
        reconcile_soon()
    return run


def _run_start(store, since, actor):
    now = timezone.now()
    with transaction.atomic():
        cursor, _ = SyncCursor.objects.select_for_update().get_or_create(store=store)
        holder = SyncRun.objects.filter(pk=cursor.run_id, status=R.RUNNING).first() if cursor.run_id else None
        if holder and holder.updated_at > now - LEASE:
            raise SyncBusy(f"{store.name}: sync run {holder.pk} is already running "
                           f"(last page at {holder.updated_at:%H:%M:%S} UTC).")
        if since is not None:
            # --since is inclusive for people; modified_after is exclusive to WooCommerce.
            cursor.modified_after, cursor.page = as_utc(since).replace(microsecond=0) - ONE_SECOND, 1
        run = SyncRun.objects.create(store=store, actor_ref=str(actor)[:200], started_from=cursor.modified_after)
        if holder:
            SyncRun.objects.filter(pk=holder.pk).update(
                status=R.ABANDONED, finished_at=now, error=f"Stopped without finishing; run {run.pk} resumed.")
        cursor.run, cursor.last_run_at = run, now
        cursor.save()
    return run


def _scan(client, store, run, actor, progress):
    cursor = SyncCursor.objects.get(store=store)
    floor, page = cursor.modified_after, cursor.page
    ref = f"backfill:{run.pk}"
    boundary, boundary_ids = None, set()  # the newest second committed by this run, and its orders
    analyzed_at = ANALYZE_AFTER
    while True:
        result = client.order_page(modified_after=floor, page=page)
        if not result.orders:
            return
        fresh = [o for o in result.orders
                 if not (_external_id(o) in boundary_ids and _modified(o) == boundary)]
        newest = max(filter(None, map(_modified, result.orders)), default=None)
        floor, page = _advance(floor, page, newest)
        with transaction.atomic():
            counts = _apply_page(store, fresh, actor, ref)
            SyncCursor.objects.filter(pk=cursor.pk).update(modified_after=floor, page=page)
            run.pages += 1
            run.orders_seen += len(fresh)
            for field in ("applied", "stale", "ignored", "failed"):
                setattr(run, field, getattr(run, field) + counts[field])
            run.save()
        if run.applied >= analyzed_at:
            # A first backfill grows the tables from little: keep the planner's picture current
            # (after 1,000 orders, 2,000, 4,000, …), so each page's lookups stay index probes.
            statistics_refresh()
            analyzed_at = run.applied * 2
        ids = {_external_id(o) for o in result.orders if _modified(o) == newest}
        boundary_ids = boundary_ids | ids if newest == boundary else ids
        boundary = newest
        if progress:
            progress(Progress(run=run, page=run.pages, total_pages=run.pages + result.total_pages - result.number))
        if result.number >= result.total_pages:
            return


def _advance(floor, page, newest):
    """The next (modified_after, page): one second below the newest date read, or the next page
    number when that would not move past the current floor (a whole page within one second)."""
    if newest is not None:
        candidate = newest - ONE_SECOND
        if floor is None or candidate > floor:
            return candidate, 1
    return floor, page + 1


def _apply_page(store, payloads, actor, ref):
    # Read once per page: a manager's new mapping applies from the next page on.
    status_map = store_status_map(store)
    fetched_at = timezone.now()
    items = [intake.Item(payload=p, actor=actor, event_ref=ref, received_at=fetched_at) for p in payloads]
    counts = Counter()
    for payload, outcome in zip(payloads, intake.orders_apply(store=store, items=items, status_map=status_map)):
        if isinstance(outcome, ObservationError):
            # The order itself is wrong: a person must look at it; the others go on.
            _raise_bad_order(store, payload, outcome, actor)
            outcome = FAILED
        counts[outcome] += 1
    return counts


def _external_id(payload):
    return str(payload.get("id")) if isinstance(payload, dict) else None


def _raise_bad_order(store, payload, error, actor):
    order_id = _external_id(payload)
    exception_raise(
        kind=ExceptionKind.SYNC_FAILURE, subject_key=f"store:{store.slug}/order:{order_id}", actor=actor,
        summary=f"{store.name}: WooCommerce order {order_id} could not be read: {error}",
        evidence={"store": store.slug, "order_id": order_id, "field": error.field, "error": error.message},
    )


def _modified(payload):
    try:
        return parse_gmt(payload.get("date_modified_gmt")) if isinstance(payload, dict) else None
    except ValueError:
        return None  # the mapper will say what is wrong with it


def _run_finish(run, actor, error=None):
    store, now = run.store, timezone.now()
    message = "" if error is None else (str(error) if isinstance(error, StoreError)
                                        else f"{type(error).__name__}: {error}".rstrip(": "))
    with transaction.atomic():
        run.status, run.error, run.finished_at = (R.FAILED if error else R.SUCCEEDED), message, now
        run.save()
        done = {"last_error": message, **({} if error else {"last_success_at": now})}
        SyncCursor.objects.filter(store=store).update(**done)
        SyncCursor.objects.filter(store=store, run=run).update(run=None)
        cursor = SyncCursor.objects.get(store=store)
        if error:
            exception_raise(
                kind=ExceptionKind.SYNC_FAILURE, subject_key=sync_subject(store), actor=actor,
                summary=message if isinstance(error, StoreError) else f"{store.name}: sync failed: {message}",
                evidence={"store": store.slug, "run": run.pk, "error": message,
                          "cursor": wc_datetime(cursor.modified_after) if cursor.modified_after else None,
                          "page": cursor.page},
            )
        else:
            exception_resolve(kind=ExceptionKind.SYNC_FAILURE, subject_key=sync_subject(store), actor=actor,
                              reason=f"Sync run {run.pk} read the store successfully.")


def webhooks_check(*, client, store, actor):
    """Open sync_failure while WooCommerce has disabled one of the console's webhooks; resolve it
    once they are all active again. Returns what was found, for the run.

    The console's webhooks are those whose delivery URL path ends with this store's receiver path
    (/webhooks/woocommerce/<slug>/): the console does not know the public host it is reached by
    (proxies, tunnels), and the slug in the path is this store's alone. Webhooks pointing anywhere
    else belong to other systems, and their failures are not ours to report. Paused webhooks were
    paused by a person in the shop, so they are listed, not raised.
    """
    subject = webhooks_subject(store)
    try:
        hooks = client.list_webhooks()
    except StoreError as error:
        exception_raise(kind=ExceptionKind.SYNC_FAILURE, subject_key=subject, actor=actor,
                        summary=f"{store.name}: could not check the shop's webhooks: {error}",
                        evidence={"store": store.slug, "error": str(error)})
        return {"error": str(error)}
    path = store.webhook_path().rstrip("/")
    ours = [h for h in hooks if urlsplit(str(h.get("delivery_url") or "")).path.rstrip("/").endswith(path)]
    disabled = [h for h in ours if h.get("status") == "disabled"]
    if disabled:
        named = ", ".join(f"#{h.get('id')} ({h.get('topic')})" for h in disabled)
        exception_raise(
            kind=ExceptionKind.SYNC_FAILURE, subject_key=subject, actor=actor,
            summary=f"{store.name}: WooCommerce disabled webhook {named} after repeated failed deliveries. "
                    "Re-activate it in WooCommerce → Settings → Advanced → Webhooks; the backfill covers the gap.",
            evidence={"store": store.slug, "disabled_webhook_ids": [h.get("id") for h in disabled],
                      "webhooks": [{k: h.get(k) for k in ("id", "topic", "status", "delivery_url")}
                                   for h in disabled]},
        )
    else:
        exception_resolve(kind=ExceptionKind.SYNC_FAILURE, subject_key=subject, actor=actor,
                          reason="The console's webhooks are active again.")
    return {"console": [h.get("id") for h in ours], "disabled": [h.get("id") for h in disabled],
            "paused": [h.get("id") for h in ours if h.get("status") == "paused"]}
