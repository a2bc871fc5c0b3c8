"""Managers map a store's raw statuses; orders that waited on an unmapped status are re-derived."""

from django.db import transaction

from integrations.models import StatusMapping
from integrations.woocommerce import statuses
from integrations.woocommerce.services import WOO, unmapped_subject
from lifecycle.models import ExceptionKind, Order
from lifecycle.services.errors import OrderTransitionRefused, PermissionDenied, ServiceError
from lifecycle.services.exceptions import exception_resolve
from lifecycle.services.orders import order_transition


def status_mapping_set(*, store, raw_status, canonical, actor):
    """Map `raw_status` for the store (history kept), then move every order waiting on it.

    Returns how many orders changed state. Needs the permission to change status mappings.
    """
    if not actor.has_perm("integrations.change_statusmapping"):
        raise PermissionDenied("Only managers can map shop statuses.")
    key = statuses.map_status(raw_status, {}).key
    if canonical not in statuses.CANONICAL_STATES and canonical != statuses.IGNORE:
        raise ServiceError(f"{canonical!r} is not a canonical order state.")
    with transaction.atomic():
        mapping, _ = StatusMapping.objects.update_or_create(store=store, raw_status=key,
                                                            defaults={"canonical": canonical})
        moved = 0
        if canonical != statuses.IGNORE:
            waiting = Order.objects.filter(namespace=store.slug, system=WOO, source_states__system=WOO,
                                           source_states__raw_status__in={raw_status, key})
            for order in waiting.exclude(state=canonical):
                try:
                    moved += order_transition(order=order, to_state=canonical, actor=actor, raw_status=raw_status)
                except OrderTransitionRefused:
                    continue  # the graph forbids it for this order; its state stays and stays visible
        exception_resolve(kind=ExceptionKind.UNMAPPED_STATUS, subject_key=unmapped_subject(store.slug, raw_status),
                          reason=f"Mapped to {canonical} by {actor.ref}; {moved} orders re-derived", actor=actor)
    return moved
