"""WooCommerce payloads into the domain: the same path for webhooks (one delivery, or a store's
waiting ones drained together) and the REST backfill (a page).

Each payload is mapped to the domain's value (mappers.py, pure) and the batch handed to the domain
once (lifecycle.services.observations): what a late, duplicate, unmapped or refused version does,
who the customer is and who owns them is decided there, the same for every system. A payload that
cannot be read fails alone, with the field and the reason; the others are applied.
"""

from dataclasses import dataclass
from datetime import datetime

from integrations.woocommerce import mappers, statuses
from integrations.woocommerce.status_mappings import store_status_map
from lifecycle.actors import Actor
from lifecycle.services.customers import customer_resolve
from lifecycle.services.observations import order_deleted, orders_observe
from lifecycle.values import ObservationError, Outcome

__all__ = ["Item", "Outcome", "customer_apply", "order_apply_deleted", "orders_apply"]


@dataclass(frozen=True)
class Item:
    """One order payload and who brought it (a delivery, a backfill run)."""

    payload: dict
    actor: Actor
    event_ref: str = ""
    note_stale: bool = True  # a late version is noted on the timeline the first time it is seen (not on replays)
    received_at: datetime | None = None


def orders_apply(*, store, items, status_map=None):
    """Apply the order payloads in order; one outcome per item: an Outcome, or the PayloadError
    that made the payload unreadable (the caller reports it; the others are applied)."""
    status_map = status_map or store_status_map(store)
    outcomes, observations, places = [None] * len(items), [], []
    for n, item in enumerate(items):
        try:
            observations.append(mappers.order_observation(
                item.payload, store_slug=store.slug, store_name=store.name, status_map=status_map, actor=item.actor,
                event_ref=item.event_ref, note_stale=item.note_stale, received_at=item.received_at))
            places.append(n)
        except ObservationError as error:
            outcomes[n] = error
    for n, outcome in zip(places, orders_observe(observations=observations)):
        outcomes[n] = outcome
    return outcomes


# What WooCommerce reports for an order in the trash (REST "status"), the status order.deleted means.
TRASH = "trash"


def order_apply_deleted(*, store, payload, actor, event_ref=""):
    """order.deleted carries only the id: the order was trashed; the console keeps it, marked deleted,
    with the shop's status for it ("trash") as what the shop says, so the two agree."""
    return order_deleted(system=statuses.SYSTEM, namespace=store.slug, external_id=mappers.map_deleted(payload),
                         raw_status=TRASH, actor=actor, event_ref=event_ref)


def customer_apply(*, store, payload, actor):
    """customer.created/updated: make sure the shop account resolves to one console customer."""
    customer_resolve(ref=mappers.customer_ref(mappers.map_customer(payload), store.slug), actor=actor)
    return Outcome.APPLIED
