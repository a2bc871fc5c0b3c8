"""Health scores (issue 15): the policy managers edit, and the recompute that keeps every customer's
score current, nightly for everyone with orders and within a minute for those whose events made
their score stale (lifecycle/services/health_follower.py).

One path for every recompute, a batch of one included: health_recompute takes the recompute lock
(recomputes take turns a page at a time, so a band change is seen once), then one statement reads
every customer's facts, scores them by the rules of health_score.py and writes the scores and a
snapshot for each whose score or band changed (the trend), returning only the changes
(lifecycle/db/health_score.py); a `health_band_changed` timeline event is written for each band
change, and the changes go to lifecycle/services/automation.py (at_risk, loyal). Pages of PAGE
customers, one transaction each: the nightly run never holds a lock for long.
"""

import logging
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from lifecycle import statuses
from lifecycle.actors import Actor
from lifecycle.db import health as health_rows
from lifecycle.db import health_events
from lifecycle.db import health_score as health_pages
from lifecycle.db import rows
from lifecycle.models import Band, EventKind, EventSource, HealthPolicy, System
from lifecycle.models import TimelineEvent
from lifecycle.models.health import HealthWatermark
from lifecycle.services import health_score
from lifecycle.services.errors import PermissionDenied
from lifecycle.services.reconcile import status_meanings_of

log = logging.getLogger(__name__)

# Customers per page: one statement reads a page's facts (its parameters stay well under SQLite's
# limit), and a page's locks are held for a fraction of a second.
PAGE = 5_000
CHANGE_POLICY = "lifecycle.change_healthpolicy"


def active_policy():
    """The one policy row (the first, made with DOMAIN.md's defaults if a flushed database has none)."""
    policy = HealthPolicy.objects.order_by("pk").first()
    return policy or HealthPolicy.objects.get_or_create(pk=1)[0]


def health_policy_save(*, policy, actor):
    """Publish an edited policy as its next version (scores record the version they were computed
    under; the history keeps every earlier one) and recompute every score after commit."""
    if actor.is_user and not actor.user.has_perm(CHANGE_POLICY):
        raise PermissionDenied("Changing the health policy needs a manager.")
    policy.full_clean()
    with transaction.atomic():
        stored = HealthPolicy.objects.select_for_update().filter(pk=policy.pk).values_list("version", flat=True)
        policy.version = (stored.first() or 0) + 1
        policy.updated_by = actor.user if actor.is_user else None
        policy.save()
        transaction.on_commit(_recompute_everyone, robust=True)  # a broker that is down: the nightly run
    return policy


def _recompute_everyone():
    from lifecycle.tasks import recompute_health  # the tasks module imports the services

    recompute_health.delay()


@dataclass
class Recomputed:
    customers: int = 0
    snapshots: int = 0
    band_changes: int = 0
    moves: int = 0
    seconds: float = 0.0
    acting_seconds: float = 0.0  # of which acting on the changes (events, stage moves, exceptions)
    bands: dict = field(default_factory=dict)  # band → customers this run moved into it


@dataclass(frozen=True)
class Change:
    """A customer whose band changed, or who just became an expansion candidate."""

    customer_id: int
    scored: health_score.Scored
    old_band: str
    newly_expanding: bool  # expand band with repeat purchases, and was not before


def delivered_keys():
    """(system, namespace, lookup key) of every raw status its system's mapping says means delivered or
    completed, as the integrations registered them with reconciliation (lifecycle imports none of
    them): another system's word on delivery counts, not only the order's canonical state."""
    found = set()
    for system in System.values:
        prefix = statuses._PREFIXES.get(system)  # the domain's own spelling rule, as reconciliation uses it
        for namespace, mapping in status_meanings_of(system, cached=True).items():
            for raw, meaning in mapping.items():
                if meaning in health_rows.DELIVERED:
                    key = statuses.status_key(raw, system)
                    found.update({(system, namespace, key)} | ({(system, namespace, prefix + key)} if prefix else set()))
    return sorted(found)


def health_recompute(*, customer_ids, actor, automate=True, now=None, policy=None, keys=None, result=None):
    """Recompute the scores of these customers (those without orders get an empty score: no data);
    `automate`: band changes move stages (seed_demo keeps its scenarios' stages). Returns Recomputed."""
    policy, now, result = policy or active_policy(), now or timezone.now(), result or Recomputed()
    keys = delivered_keys() if keys is None else keys
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), PAGE):
        with transaction.atomic():
            _recompute_page(ids[start:start + PAGE], policy, now, actor, automate, keys, result)
    return result


def _recompute_page(page, policy, now, actor, automate, keys, result):
    health_rows.recompute_lock()
    changed = health_pages.score_page(
        page, rules=_rules(policy), now=now, read_at=timezone.now(), delivered_keys=keys,
        activity_kinds=health_score.ACTIVITY_KINDS, ignored_kinds=health_score.NOT_COUNTED)
    acting, events, changes = time.perf_counter(), [], []
    for row in changed:
        scored = health_score.Scored(row.score, row.band, row.components)
        if row.band_changed:
            events.append(health_band_changed_event(customer_id=row.customer_id, from_band=row.old_band,
                                                    scored=scored, policy=policy, actor=actor, at=now))
        newly = (_expanding(row.band, health_score.repeat_orders_of(row.components))
                 and not _expanding(row.old_band, row.old_repeat or 0))
        if row.band_changed or newly:
            changes.append(Change(row.customer_id, scored, row.old_band, newly))
    rows.insert_many(TimelineEvent, events)
    result.customers += len(page)
    result.snapshots += sum(1 for row in changed if row.snapshot)
    result.band_changes += len(events)
    for row in changed:
        if row.band_changed:
            result.bands[row.band] = result.bands.get(row.band, 0) + 1
    if automate and changes:
        from lifecycle.services.automation import health_changes_follow  # automation reads this module's policy

        result.moves += health_changes_follow(changes, policy=policy, actor=actor)
    result.acting_seconds += time.perf_counter() - acting


def _rules(policy):
    return health_pages.Rules(
        weights=policy.weights, intervene_below=policy.intervene_below, expand_above=policy.expand_above,
        quiet_days=policy.quiet_days, churn_days=policy.churn_days, delivery_days=policy.delivery_days,
        version=policy.version, repeat_full=health_score.REPEAT_FULL, exceptions_zero=health_score.EXCEPTIONS_ZERO)


def _expanding(band, repeat_orders):
    """An expansion candidate: expand band and at least one repeat purchase (DOMAIN.md's loyal)."""
    return band == Band.EXPAND and repeat_orders >= 1


BAND_WORDS = {Band.INTERVENE: "intervene", Band.OPTIMIZE: "optimize", Band.EXPAND: "expand", "": "no score"}


def health_band_changed_event(*, customer_id, from_band, scored, policy, actor, at):
    """The one shape of a `health_band_changed` event: from and to band, the score, the policy version."""
    to = BAND_WORDS[scored.band]
    if scored.score is None:
        summary = f"Health {BAND_WORDS[from_band]} → no score: no data left to judge"
    else:
        summary = (f"Health {BAND_WORDS[from_band]} → {to}: score {scored.score}" if from_band
                   else f"Health first scored {scored.score}: {to}")
        spots = health_score.weak_spots(scored.components) if scored.band == Band.INTERVENE else []
        summary += f" (below {policy.intervene_below}): {', '.join(spots)}" if spots else ""
    return TimelineEvent(
        customer_id=customer_id, kind=EventKind.HEALTH_BAND_CHANGED,
        source=EventSource.CONSOLE if actor.is_user else EventSource.SYSTEM, summary=summary[:300],
        data={"from": from_band, "to": scored.band, "score": scored.score, "policy_version": policy.version},
        occurred_at=at, **actor.as_fields())


def health_recompute_stale(*, actor, limit_pages=20):
    """Recompute the customers whose score is stale, longest waiting first, a page at a time; returns
    Recomputed. Events keep arriving while it runs: what it leaves, the next run takes."""
    result, policy, keys = Recomputed(), active_policy(), delivered_keys()
    for _ in range(limit_pages):
        stale = health_rows.stale_customers(PAGE)
        if not stale:
            break
        health_recompute(customer_ids=stale, actor=actor, policy=policy, keys=keys, result=result)
    return result


def health_recompute_all(*, actor, automate=True, now=None):
    """Every customer with orders, page by page (the nightly run), as of `now`; records what it did on
    the watermark."""
    started, clock = now or timezone.now(), time.perf_counter()
    result, policy, keys, after = Recomputed(), active_policy(), delivered_keys(), 0
    while page := health_rows.with_orders_after(after, PAGE):
        health_recompute(customer_ids=page, actor=actor, automate=automate, now=started, policy=policy, keys=keys,
                         result=result)
        after = page[-1]
    result.seconds = time.perf_counter() - clock
    watermark()
    HealthWatermark.objects.filter(pk=1).update(nightly_at=started, nightly_customers=result.customers,
                                                nightly_seconds=result.seconds)
    log.info("health: %d customers scored in %.1f s, %d band changes, %d stage moves", result.customers,
             result.seconds, result.band_changes, result.moves)
    return result


def health_seed():
    """seed_demo's scores: every customer with orders scored, stages left as the scenarios made them,
    and the follower starting after the demo's history (it would read it as news otherwise)."""
    result = health_recompute_all(actor=Actor.system("seed_demo"), automate=False)
    watermark()
    HealthWatermark.objects.filter(pk=1).update(last_event_id=health_events.last_event_id(), gaps=[])
    return result


def watermark(*, lock=False):
    """The follower's one row (locked: one follower run at a time); made on first use starting at the
    newest event, so a new installation does not read the whole history as news."""
    rows_ = HealthWatermark.objects.select_for_update() if lock else HealthWatermark.objects
    mark = rows_.filter(pk=1).first()
    if mark is None:
        HealthWatermark.objects.get_or_create(pk=1, defaults={"last_event_id": health_events.last_event_id()})
        mark = rows_.get(pk=1)
    return mark
