"""Each ERP profile's status mappings: the defaults (statuses.py), overridden by the managers' rows,
kept per process; a manager's new mapping moves the orders that waited on it (the domain's
status_mapped), as the shop's do (integrations/woocommerce/status_mappings.py)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.erp.models import ErpStatusMapping
from integrations.erp.profiles import get_profile
from integrations.erp.statuses import DEFAULT_STATUS_MAPS, SYSTEM
from lifecycle.config_cache import ConfigCache
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.observations import status_mapped
from lifecycle.services.reconcile import status_meanings_register
from lifecycle.statuses import CANONICAL_STATES, IGNORE, status_key

# Read for every import, edited by a manager now and then: kept per process (see config_cache).
_mappings = ConfigCache("erp_status_map")


@receiver([post_save, post_delete], sender=ErpStatusMapping)
def _mapping_changed(sender, **kwargs):
    _mappings.changed()


def erp_status_map(profile):
    """{lookup key: canonical state or IGNORE} of a profile (its key): the defaults and the managers' rows."""
    return _mappings.get("erp_status_map", profile, _load)


def _load(profile):
    return _maps([profile])[profile]


def _maps(profiles):
    """{profile: its mapping} of each of `profiles`, in one query."""
    maps = {profile: dict(DEFAULT_STATUS_MAPS.get(profile, {})) for profile in profiles}
    for profile, raw, canonical in (ErpStatusMapping.objects.filter(profile__in=profiles)
                                    .values_list("profile", "raw_status", "canonical")):
        maps[profile][status_key(raw, SYSTEM)] = canonical
    return maps


def erp_status_mapping_set(*, profile, raw_status, canonical, actor):
    """Map a profile's raw status (history kept), then move every order whose ERP status waits on it.

    Returns how many orders changed state. Needs the permission to change ERP status mappings.
    """
    if not actor.has_perm("erp.change_erpstatusmapping"):
        raise PermissionDenied("Only managers can map ERP statuses.")
    if canonical not in CANONICAL_STATES and canonical != IGNORE:
        raise ServiceError(f"{canonical!r} is not a canonical order state.")
    profile = get_profile(profile).key
    with transaction.atomic():
        ErpStatusMapping.objects.update_or_create(profile=profile, raw_status=status_key(raw_status, SYSTEM),
                                                  defaults={"canonical": canonical})
        return status_mapped(system=SYSTEM, namespace=profile, raw_status=raw_status.strip(), meaning=canonical,
                             actor=actor, foreign=True)


def status_meanings():
    """What the ERP's statuses mean to reconciliation. Its source states sit on the shop's orders,
    so every profile's mapping is a default there (namespace ""); the profiles' vocabularies do not
    overlap (ERPNext's and Odoo's combinations are their own), and a value two profiles spell alike
    reads as the later profile's (generic, erpnext, odoo)."""
    merged = {}
    for mapping in _maps(["generic", "erpnext", "odoo"]).values():  # in that order
        merged.update(mapping)
    return {"": merged}


def status_meanings_cached():
    """status_meanings, kept per process like the profiles' maps (the customer screen reads it per view)."""
    return _mappings.get("erp_status_map", "*all profiles*", lambda _key: status_meanings())


status_meanings_register(SYSTEM, status_meanings, cached=status_meanings_cached)
