"""The follower: timeline events since the saved watermark complete, re-time and end journey steps
(apply.follow_events), set-based, a batch of events per transaction. Run by the beat every minute
and queued when journeys start, so the systems writing events (orders, the ERP, the CRM) need not
know journeys exist.

Event ids are taken at insert but seen at commit, so an event may appear below an id already read.
The follower reads from the watermark's `safe_id`, and moves it up to `seen_id` (the top id when it
last looked) once every transaction that was open at that look has ended (PostgreSQL says when each
open transaction began), else once that look is SAFETY old: until then its events are read again,
and reading one twice changes nothing (apply.py). Only events of customers with a running journey
are read.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils import timezone

from lifecycle.db import locks
from lifecycle.models import EventKind, Journey, JourneyStatus, JourneyWatermark, Stage, TimelineEvent
from lifecycle.services.journeys import signals
from lifecycle.services.journeys.apply import follow_events

# Events per transaction: few enough that the customers' locks are held briefly. The follower runs at the
# sweeps' low priority, so a batch may wait for the CPU while it holds them: the drill's month (2,000 a
# batch) had the shops' deliveries wait up to a second behind it.
BATCH = 250
# Longer than any transaction that writes timeline events runs (a backfill page, an ERP import's chunk,
# a CRM pull's page: seconds); every run reads again the events of the last SAFETY to 2 × SAFETY.
SAFETY = timedelta(minutes=3)
RUN_LOCK = locks.key_id(("journeys", "follow"))
EVENT_FIELDS = ("id", "customer_id", "order_id", "kind", "source", "data", "occurred_at", "actor_kind", "actor_ref")


def _relevant():
    kinds = [k for k in signals.EVENT_KINDS if k != EventKind.STAGE_CHANGED]
    running = Journey.objects.filter(customer_id=OuterRef("customer_id"), status=JourneyStatus.RUNNING)
    return (TimelineEvent.objects.filter(Q(kind__in=kinds) | Q(kind=EventKind.STAGE_CHANGED, data__to=Stage.CHURNED))
            .filter(Exists(running)).only(*EVENT_FIELDS))


def _watermark():
    """The watermark row, locked: one follower run at a time. Made on first use just below the
    first journey's start, since no earlier event can concern a journey."""
    mark = JourneyWatermark.objects.select_for_update().filter(pk=1).first()
    if mark is not None:
        return mark
    first = TimelineEvent.objects.filter(kind=EventKind.JOURNEY_STARTED).aggregate(m=Min("id"))["m"]
    start = first - 1 if first else (TimelineEvent.objects.aggregate(m=Max("id"))["m"] or 0)
    try:
        with transaction.atomic():
            JourneyWatermark.objects.create(pk=1, safe_id=start, seen_id=start, seen_at=timezone.now())
    except IntegrityError:
        pass  # another run made it first
    return JourneyWatermark.objects.select_for_update().get(pk=1)


@contextmanager
def _one_run():
    """Whether this is the only follower run (PostgreSQL: a session lock held to the run's end). A
    second run returns at once instead of waiting: waiting, it held a worker, then read again what
    the first had read; the first reads everything up to where it looked."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RUN_LOCK])


def _all_began_after(moment):
    """Whether every other transaction open on this database now began after `moment` (PostgreSQL;
    elsewhere, not known: False). Sessions of another role show no start to a plain role: the
    console writes its events as one role."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND xact_start <= %s)", [moment])
        return cursor.fetchone()[0]


def journeys_follow(*, actor, now=None):
    """Follow every event since the watermark; returns how many were read (0 when another run is
    following them)."""
    with _one_run() as mine:
        return _follow(actor, now) if mine else 0


def _follow(actor, now):
    now = now or timezone.now()
    with transaction.atomic():
        mark = _watermark()
        top = TimelineEvent.objects.aggregate(m=Max("id"))["m"] or 0
        cursor = mark.safe_id
        # Asked before reading: a transaction that ends after this is read by this run or the next.
        settled = mark.seen_at is not None and _all_began_after(mark.seen_at)
    read = 0
    while True:
        with transaction.atomic():
            _watermark()  # one run at a time, batch by batch
            events = list(_relevant().filter(id__gt=cursor, id__lte=top).order_by("id")[:BATCH])
            follow_events(events, actor=actor, now=now)
        read += len(events)
        if len(events) < BATCH:
            break
        cursor = events[-1].id
    with transaction.atomic():
        mark = _watermark()
        if mark.seen_at is None or settled or now - mark.seen_at >= SAFETY:
            mark.safe_id, mark.seen_id, mark.seen_at = max(mark.safe_id, mark.seen_id), max(top, mark.seen_id), now
        mark.followed, mark.updated_at = read, now
        mark.save()
    return read
