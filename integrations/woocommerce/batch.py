"""order_apply for many orders at once: a backfill page, or the deliveries waiting for a store.

Each order ends exactly as order_apply would leave it (same outcome, state, amounts, source
state, customer, owner, exceptions and timeline), but a batch of a hundred costs some twenty
statements instead of twenty-five per order: the orders are locked in one read, customers
resolved in one, and rows of a kind are written with one INSERT or UPDATE (lifecycle's
order_batches and routing_batches). Rare paths (an unmapped status, a refused transition, a late
delivery's note) call the one-by-one services.

When one order appears more than once in a batch (five deliveries of one order), the batch runs
in rounds, each holding every order at most once, in arrival order: each version is applied
after the one before it, as deliveries processed one at a time would be.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Subquery

from integrations.woocommerce import mappers, statuses
from integrations.woocommerce.customers import resolve_customers
from integrations.woocommerce.fields import PayloadError
from integrations.woocommerce.services import Outcome, _raise_unmapped, store_status_map
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind, Order, OrderSourceState, OrderState, TimelineEvent
from lifecycle.models import System as OrderSystem
from lifecycle.services import order_batches, rows, timeline
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.exceptions import exception_raise

WOO = OrderSystem.WOOCOMMERCE


@dataclass(frozen=True)
class Item:
    """One order payload and who brought it (a delivery, a backfill run)."""

    payload: dict
    actor: Actor
    event_ref: str = ""
    note_stale: bool = True  # a late version is noted on the timeline the first time it is seen


def orders_apply_many(*, store, items, status_map=None):
    """Apply the payloads in order; one outcome per item: an Outcome, or the PayloadError that
    made the payload unreadable (the caller reports it; the others are applied)."""
    status_map = status_map or store_status_map(store)
    outcomes, mapped = [None] * len(items), []
    for n, item in enumerate(items):
        try:
            mapped.append((n, mappers.map_order(item.payload, store_slug=store.slug, status_map=status_map)))
        except PayloadError as error:
            outcomes[n] = error
    for batch in _rounds(mapped):
        with transaction.atomic():
            _apply_round(store, batch, items, outcomes)
    return outcomes


def _rounds(mapped):
    """Split (n, data) into rounds in which each order appears once, keeping arrival order."""
    rounds, seen = [], {}
    for n, data in mapped:
        k = seen.get(data.external_id, 0)
        seen[data.external_id] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append((n, data))
    return rounds


def _lock_orders(store_slug, external_ids):
    """{external id: Order} for those the console has, locked in id order, each with the stored
    WooCommerce source state's id and time (woo_state_id, woo_observed_at)."""
    source = OrderSourceState.objects.filter(order=OuterRef("pk"), system=WOO)
    orders = (Order.objects.select_for_update(of=("self",))
              .filter(system=WOO, namespace=store_slug, external_id__in=external_ids)
              .annotate(woo_state_id=Subquery(source.values("pk")[:1]),
                        woo_observed_at=Subquery(source.values("observed_at")[:1]))
              .order_by("pk"))
    return {order.external_id: order for order in orders}


def _apply_round(store, batch, items, outcomes):
    existing = _lock_orders(store.slug, [data.external_id for _, data in batch])
    events, followers = [], order_batches.Followers()
    created, newer, stale = [], [], []
    for n, data in batch:
        order = existing.get(data.external_id)
        if order is None:
            if data.status.outcome == statuses.IGNORED:
                outcomes[n] = Outcome.IGNORED  # a checkout draft is not an order yet
            else:
                created.append((n, data))
        elif order.woo_observed_at is not None and data.modified_at <= order.woo_observed_at:
            outcomes[n] = Outcome.STALE
            if items[n].note_stale and data.modified_at < order.woo_observed_at:
                stale.append(timeline.stale_event(order=order, actor=items[n].actor, observed_at=data.modified_at,
                                                  stored_at=order.woo_observed_at))
        else:
            newer.append((n, data, order))
    if created:
        _create(store, created, items, outcomes, events, followers)
    if newer:
        _update(store, newer, items, outcomes, events, followers)
    order_batches.follow_orders_many(followers, events)
    rows.insert_many(TimelineEvent, events + stale)


def _create(store, created, items, outcomes, events, followers):
    customers = resolve_customers(store_slug=store.slug, refs=[(data.customer, items[n].actor) for n, data in created],
                                  events=events)
    new_orders = [
        order_batches.NewOrder(
            customer=customer, actor=items[n].actor, namespace=store.slug, external_id=data.external_id,
            number=data.number, total=data.total, refunded_total=data.refunded_total, currency=data.currency,
            placed_at=data.placed_at, paid_at=data.paid_at,
            # An order whose first status nobody mapped starts where every order starts and waits there.
            state=data.canonical_state or OrderState.PENDING_PAYMENT,
            raw_status=data.raw_status, observed_at=data.modified_at, event_ref=items[n].event_ref,
        )
        for (n, data), customer in zip(created, customers)
    ]
    orders = order_batches.orders_create_many(new_orders, events, followers)
    for (n, data), order in zip(created, orders):
        outcomes[n] = Outcome.APPLIED
        if data.status.outcome == statuses.UNMAPPED:
            _raise_unmapped(store, order, data.raw_status, items[n].actor)


def _update(store, newer, items, outcomes, events, followers):
    order_batches.observe_sources_many([
        (order, WOO, data.raw_status, data.modified_at, items[n].event_ref, order.woo_state_id)
        for n, data, order in newer
    ])
    changed = []
    for n, data, order in newer:
        outcomes[n] = Outcome.APPLIED
        actor, dirty = items[n].actor, False
        if (order.total, order.refunded_total) != (data.total, data.refunded_total):
            order.total, order.refunded_total, dirty = data.total, data.refunded_total, True
        if data.status.outcome == statuses.UNMAPPED:
            _raise_unmapped(store, order, data.raw_status, actor)
        elif data.canonical_state and data.canonical_state != order.state:
            try:
                dirty |= order_batches.order_move_in_batch(order, data.canonical_state, actor, data.raw_status,
                                                           events, followers)
            except OrderTransitionRefused as refused:
                # The shop moved somewhere our graph does not allow: keep our state, show the conflict.
                exception_raise(
                    kind=ExceptionKind.STATE_MISMATCH, subject_key=f"order:{order.pk}", customer=order.customer,
                    order=order, actor=actor, summary=str(refused),
                    evidence={"woocommerce": data.raw_status, "canonical": order.state,
                              "wanted": data.canonical_state},
                )
        if dirty:
            changed.append(order)
    order_batches.orders_save_many(changed)
