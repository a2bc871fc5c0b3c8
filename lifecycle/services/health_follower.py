"""The health follower: reads the timeline's new events since its watermark (by id) and turns them
into work, so the paths that write those events (orders, exceptions, journeys, the CRM's pulls) need
not know that health exists:

- the customers they concern are marked stale (set-based), and their scores recomputed right after:
  however many events a customer had since the last run (a minute, by the beat), one recompute;
- an order refunded in whole or part moves its customer to at_risk;
- an exception the SLA sweep escalated moves its customer to at_risk when a critical exception of
  theirs is open past its SLA.

Ids are handed out when a transaction inserts, not when it commits: an id below the highest one read
may belong to a transaction still open. Such missing ids are kept as gaps and read again by later
runs until they appear or GAP_PATIENCE has passed (a rolled-back insert leaves its ids unused for
ever). Each event is acted on once: the watermark moves in the transaction that acts on it.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from lifecycle.db import health as health_rows
from lifecycle.db import health_events
from lifecycle.models import EventKind
from lifecycle.services import automation
from lifecycle.services.health import watermark

K = EventKind
# What may change a score: orders, problems opened or closed, journey steps, touchpoints and the
# CRM's activities, invoices and notes (the activity the score counts).
STALE_KINDS = frozenset({
    K.ORDER_CREATED, K.ORDER_STATE_CHANGED, K.EXCEPTION_OPENED, K.EXCEPTION_RESOLVED, K.EXCEPTION_REOPENED,
    K.JOURNEY_STEP_DONE, K.JOURNEY_STEP_MISSED, K.JOURNEY_ENDED, K.TOUCHPOINT, K.CRM_ACTIVITY, K.ERP_INVOICE,
    K.NOTE,
})
# Events read per run: a backlog (a store's backfill) is caught up over a few runs.
BATCH = 10_000
# How long an open transaction may hold ids below the watermark before they are given up: longer than
# the longest import's transaction.
GAP_PATIENCE = timedelta(minutes=30)
MAX_GAPS = 1_000  # ranges kept; the oldest go first (the nightly run catches what they held)


@dataclass
class Followed:
    events: int = 0
    stale: int = 0
    refunds: int = 0
    critical: int = 0


def holes(first, last, present):
    """The [first id, last id] ranges of ids between `first` and `last` (inclusive) not in `present`
    (ascending)."""
    found, start = [], first
    for i in present:
        if i < first or i > last:
            continue
        if i > start:
            found.append([start, i - 1])
        start = i + 1
    if start <= last:
        found.append([start, last])
    return found


def health_follow(*, actor, now=None, limit=BATCH):
    """Read the events since the watermark and the gaps below it, and act on them (see the module).
    One run at a time: the watermark row is locked. Returns Followed."""
    now, done = now or timezone.now(), Followed()
    with transaction.atomic():
        mark = watermark(lock=True)
        gaps = [(lo, hi, seen) for lo, hi, seen in mark.gaps if now - parse_datetime(seen) < GAP_PATIENCE]
        late = health_events.events_in([(lo, hi) for lo, hi, _ in gaps])
        new = health_events.events_after(mark.last_event_id, limit)
        last = new[-1][0] if new else mark.last_event_id
        late_ids = [row[0] for row in late]
        kept = [[lo, hi, seen] for g_lo, g_hi, seen in gaps for lo, hi in holes(g_lo, g_hi, late_ids)]
        kept += [[lo, hi, now.isoformat()] for lo, hi in holes(mark.last_event_id + 1, last, [r[0] for r in new])]
        _act(late + new, now, actor, done)
        mark.last_event_id, mark.gaps = last, kept[-MAX_GAPS:]
        mark.followed_at, mark.followed = now, len(late) + len(new)
        mark.save()
    done.events = len(late) + len(new)
    return done


def _act(events, now, actor, done):
    stale, refunds, breached = set(), [], set()
    for _id, customer_id, kind, order_id, to_state in events:
        if customer_id is None:
            continue
        if kind in STALE_KINDS:
            stale.add(customer_id)
        if kind == K.ORDER_STATE_CHANGED and to_state in health_rows.REFUNDED and order_id:
            refunds.append((customer_id, order_id, to_state))
        elif kind == K.EXCEPTION_BREACHED:
            breached.add(customer_id)
    done.stale = health_rows.mark_stale(sorted(stale), now)
    done.refunds = automation.refunds_follow(refunds, actor=actor)
    done.critical = automation.critical_follow(breached, now=now, actor=actor)
