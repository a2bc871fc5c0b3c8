"""Applying WooCommerce events to the domain: the same path for webhooks and REST backfill.

Idempotent by construction: an order is unique per (store, WooCommerce id); a payload whose
date_modified_gmt is not newer than the stored source state changes nothing (a replay, a duplicate
or a late delivery); amounts and states are set to what the payload says, never incremented.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.models import StatusMapping
from integrations.woocommerce import mappers, statuses
from integrations.woocommerce.customers import resolve_customer
from lifecycle.config_cache import ConfigCache
from lifecycle.models import ExceptionKind, Order, OrderSourceState, OrderState
from lifecycle.models import System as OrderSystem
from lifecycle.services import timeline
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.orders import order_create, order_observe_source, order_transition, order_update_amounts

WOO = OrderSystem.WOOCOMMERCE


class Outcome:
    APPLIED = "applied"
    STALE = "stale"
    IGNORED = "ignored"


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


def unmapped_subject(store_slug, raw_status):
    """One unmapped_status exception per store and status, however the shop spells it (wc-, case)."""
    return f"store:{store_slug}/status:{statuses.map_status(raw_status, {}).key}"


def order_apply(*, store, payload, actor, event_ref="", status_map=None, note_stale=True):
    """Bring the console's copy of one WooCommerce order up to the payload; returns an Outcome.

    A late delivery is noted on the timeline the first time it is seen (`note_stale`), not on replays.
    """
    data = mappers.map_order(payload, store_slug=store.slug, status_map=status_map or store_status_map(store))
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",)).select_related("customer")
            .filter(system=WOO, namespace=store.slug, external_id=data.external_id)
            .first()
        )
        if order is None:
            if data.status.outcome == statuses.IGNORED:
                return Outcome.IGNORED  # a checkout draft is not an order yet
            return _create(store, data, actor, event_ref)
        if not order_observe_source(order=order, system=WOO, raw_status=data.raw_status,
                                    observed_at=data.modified_at, event_ref=event_ref):
            # Read only when stale (the rare case): order_observe_source already read it, locked.
            stored = OrderSourceState.objects.filter(order=order, system=WOO).values_list("observed_at", flat=True).first()
            if note_stale and data.modified_at < stored:
                timeline.record_stale_event(order=order, actor=actor, observed_at=data.modified_at, stored_at=stored)
            return Outcome.STALE
        order_update_amounts(order=order, total=data.total, refunded_total=data.refunded_total)
        _derive_state(store, order, data, actor)
    return Outcome.APPLIED


def _create(store, data, actor, event_ref):
    customer = resolve_customer(store_slug=store.slug, ref=data.customer, actor=actor)
    # An order whose first status nobody mapped starts where every order starts and waits there.
    state = data.canonical_state or OrderState.PENDING_PAYMENT
    order = order_create(
        customer=customer, actor=actor, system=WOO, namespace=store.slug, external_id=data.external_id,
        number=data.number, total=data.total, currency=data.currency, placed_at=data.placed_at,
        paid_at=data.paid_at, state=state, raw_status=data.raw_status, observed_at=data.modified_at,
        event_ref=event_ref,
    )
    order_update_amounts(order=order, total=data.total, refunded_total=data.refunded_total)
    if data.status.outcome == statuses.UNMAPPED:
        _raise_unmapped(store, order, data.raw_status, actor)
    return Outcome.APPLIED


def _derive_state(store, order, data, actor):
    if data.status.outcome == statuses.UNMAPPED:
        _raise_unmapped(store, order, data.raw_status, actor)
    elif data.canonical_state and data.canonical_state != order.state:
        # `order` is locked by order_apply, so its state is current: an unchanged state needs no transition.
        try:
            order_transition(order=order, to_state=data.canonical_state, actor=actor, raw_status=data.raw_status,
                             locked=True)
        except OrderTransitionRefused as refused:
            # The shop moved somewhere our graph does not allow: keep our state, show the conflict.
            exception_raise(
                kind=ExceptionKind.STATE_MISMATCH, subject_key=f"order:{order.pk}", customer=order.customer,
                order=order, actor=actor, summary=str(refused),
                evidence={"woocommerce": data.raw_status, "canonical": order.state, "wanted": data.canonical_state},
            )


def _raise_unmapped(store, order, raw_status, actor):
    timeline.record_unmapped_status(order=order, raw_status=raw_status, actor=actor)
    exception_raise(
        kind=ExceptionKind.UNMAPPED_STATUS, subject_key=unmapped_subject(store.slug, raw_status), actor=actor,
        summary=f"{store.name}: WooCommerce status “{raw_status}” has no mapping",
        evidence={"store": store.slug, "raw_status": raw_status, "example_order": order.number},
    )


def order_apply_deleted(*, store, payload, actor, event_ref=""):
    """order.deleted carries only the id: the order was trashed; keep it, mark it deleted."""
    external_id = mappers.map_deleted(payload)
    order = Order.objects.filter(system=WOO, namespace=store.slug, external_id=external_id).first()
    if order is None or order.state == OrderState.DELETED:
        return Outcome.IGNORED
    order_transition(order=order, to_state=OrderState.DELETED, actor=actor, raw_status="trash")
    return Outcome.APPLIED


def customer_apply(*, store, payload, actor):
    """customer.created/updated: make sure the shop account resolves to one console customer."""
    data = mappers.map_customer(payload)
    resolve_customer(store_slug=store.slug, ref=data, actor=actor)
    return Outcome.APPLIED
