"""Publishing playbooks, and choosing the playbook a customer's journey follows.

Managers edit a playbook and its steps in place (history kept); every save publishes a version, a
frozen copy journeys start from, so a running journey keeps the version it started with.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from lifecycle.config_cache import ConfigCache
from lifecycle.models import OrderKind, Playbook, PlaybookStep, PlaybookVersion, ReEntry, Team
from lifecycle.services.errors import ServiceError
from lifecycle.services.journeys import signals
from lifecycle.services.journeys.versions import conditions_snapshot, step_snapshot


class PlaybookRefused(ServiceError):
    pass


def playbook_problems(playbook, steps):
    """What keeps a playbook and its steps from being published, one sentence each."""
    found = [f"Exit criteria: {p}" for p in signals.exit_problems(playbook.exit_on)]
    if not steps:
        found.append("A playbook needs at least one step.")
    for step in steps:
        found += [f"{step.name or step.key}: {p}" for p in signals.problems(step.signals)]
        if not step.signals:
            found.append(f"{step.name or step.key}: name at least one signal that completes it.")
    return found


def playbook_publish(*, playbook, actor):
    """Freeze the playbook's conditions and steps as its next version; journeys started from now on
    follow it, running ones keep theirs. Returns the PlaybookVersion. Refuses (PlaybookRefused,
    nothing written) a playbook whose steps name unknown signals or that has no step."""
    with transaction.atomic():
        locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
        steps = list(PlaybookStep.objects.filter(playbook=locked).order_by("position", "id"))
        problems = playbook_problems(locked, steps)
        if problems:
            raise PlaybookRefused(" ".join(problems))
        slugs = dict(Team.objects.filter(pk__in={s.team_id for s in steps}).values_list("pk", "slug"))
        version = PlaybookVersion.objects.create(
            playbook=locked, number=locked.version + 1, published_by=actor.user if actor.is_user else None,
            steps=[step_snapshot(s, slugs[s.team_id]) for s in steps], conditions=conditions_snapshot(locked))
        # Not a manager's edit: the history keeps their edits, not this counter.
        Playbook.objects.filter(pk=locked.pk).update(version=version.number)
    playbook.version = version.number
    return version


@dataclass(frozen=True)
class StartFacts:
    """What choosing a customer's playbook looks at: the order that starts the journey (None when a
    person moved the customer to onboarding without one), whether it is the customer's first paid
    order, and its journeys so far: {playbook id: (running?, when the last one ended)}."""

    order: object
    first_order: bool
    journeys: dict


def _money(value):
    return None if value in (None, "") else Decimal(value)


def conditions_match(conditions, facts):
    order = facts.order
    kind = conditions.get("order_kind", OrderKind.ANY)
    if kind == OrderKind.FIRST and not facts.first_order or kind == OrderKind.REPEAT and facts.first_order:
        return False
    store, categories = conditions.get("store"), set(conditions.get("product_categories") or [])
    low, high = _money(conditions.get("min_order_total")), _money(conditions.get("max_order_total"))
    if order is None:
        return not (store or categories or low is not None or high is not None)
    if store and order.namespace != store:
        return False
    if categories and not categories & set(order.product_categories or []):
        return False
    return (low is None or order.total >= low) and (high is None or order.total <= high)


def may_enter(conditions, history, now):
    """The playbook's re-entry rule against the customer's journeys of it: (running?, last ended)."""
    if history is None:
        return True
    running, last_ended = history
    if running:
        return False  # at most one running journey per playbook (the database says so too)
    rule = conditions.get("re_entry", ReEntry.AFTER_DAYS)
    if rule == ReEntry.NEVER:
        return False
    if rule == ReEntry.AFTER_DAYS:
        gap = timedelta(days=conditions.get("re_entry_days", 0))
        return isinstance(last_ended, datetime) and now - last_ended >= gap
    return True


def choose_version(versions, facts, now):
    """The version to start: of the first playbook (lowest priority, then oldest) whose conditions
    match and whose re-entry rule lets the customer in; None when none does. `versions` are the
    active playbooks' latest versions in that order."""
    for version in versions:
        if conditions_match(version.conditions, facts) and may_enter(
                version.conditions, facts.journeys.get(version.playbook_id), now):
            return version
    return None


# Read by every batch that moves customers into onboarding (the order path), edited now and then: kept
# per process (lifecycle/config_cache.py); a playbook's save or a new version drops it.
_cache = ConfigCache("versions")


@receiver([post_save, post_delete], sender=Playbook)
@receiver([post_save, post_delete], sender=PlaybookVersion)
def _playbooks_changed(sender, **kwargs):
    _cache.changed()


def latest_versions():
    """Every active playbook's latest version, in choosing order (one query, then kept)."""
    return _cache.get("versions", "latest", _load_latest)


def _load_latest(_key):
    return tuple(PlaybookVersion.objects.filter(playbook__active=True, number=F("playbook__version"))
                 .select_related("playbook").order_by("playbook__priority", "playbook__id"))
