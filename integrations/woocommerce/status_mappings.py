"""A store's status mappings: DOMAIN.md's defaults, overridden by the managers' rows, kept per
process; a manager's new mapping moves the orders that waited on it (the domain's status_mapped)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.models import StatusMapping
from integrations.woocommerce import statuses
from lifecycle.config_cache import ConfigCache
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.observations import status_mapped
from lifecycle.services.reconcile import status_meanings_register

# Read on every delivery, edited by a manager now and then: kept per process (see config_cache).
_mappings = ConfigCache("status_map")


@receiver([post_save, post_delete], sender=StatusMapping)
def _mapping_changed(sender, **kwargs):
    _mappings.changed()


def store_status_map(store):
    """DOMAIN.md's defaults, overridden by the store's own mappings."""
    return status_map_for_store(store.slug)


def status_map_for_store(store_slug):
    """store_status_map by the store's slug (an order's namespace); slugs never change."""
    return _mappings.get("status_map", store_slug, _load_status_map)


def _load_status_map(store_slug):
    mapping = dict(statuses.DEFAULT_STATUS_MAP)
    mapping.update(StatusMapping.objects.filter(store__slug=store_slug).values_list("raw_status", "canonical"))
    return mapping


def status_mapping_set(*, store, raw_status, canonical, actor):
    """Map `raw_status` for the store (history kept), then move every order waiting on it.

    Returns how many orders changed state. Needs the permission to change status mappings.
    """
    if not actor.has_perm("integrations.change_statusmapping"):
        raise PermissionDenied("Only managers can map shop statuses.")
    if canonical not in statuses.CANONICAL_STATES and canonical != statuses.IGNORE:
        raise ServiceError(f"{canonical!r} is not a canonical order state.")
    with transaction.atomic():
        StatusMapping.objects.update_or_create(store=store, raw_status=statuses.status_key(raw_status),
                                               defaults={"canonical": canonical})
        return status_mapped(system=statuses.SYSTEM, namespace=store.slug, raw_status=raw_status,
                             meaning=canonical, actor=actor)


def status_meanings():
    """What the shop's statuses mean to reconciliation: DOMAIN.md's defaults for every store, and each
    store's own mappings for its orders (read afresh each run, so a manager's mapping counts at once)."""
    found = {"": dict(statuses.DEFAULT_STATUS_MAP)}
    for slug, raw_status, canonical in StatusMapping.objects.values_list("store__slug", "raw_status", "canonical"):
        found.setdefault(slug, {})[raw_status] = canonical
    return found


status_meanings_register(statuses.SYSTEM, status_meanings)
