"""Orders many at a time: what order_create and order_transition do one by one, in a few statements.

For a page of a backfill or a store's waiting deliveries. The caller holds one transaction and the
row locks of the orders it changes; rows go in with one INSERT or UPDATE per table, timeline
events are collected in `events` for the caller to insert once, and the customers whose orders
changed follow them (stage moves and routing) together at the end (follow_orders_many).

One difference from applying the orders one by one, on purpose: a customer whose orders move it
through several stages in one batch (a new customer's unpaid, then paid order) records every stage
change, replayed in order, but is handed over once, to the team of the stage it ends in, not to
each team in between.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from lifecycle.models import DEAD_STATES, PAID_STATES, Customer, Order, OrderSourceState
from lifecycle.models import System as OrderSystem
from lifecycle.selectors.routing import facts_from_orders
from lifecycle.services import rows, timeline
from lifecycle.services.orders import _stage_move_for, _transition_for
from lifecycle.services.routing_batches import RouteRequest, route_many


@dataclass
class NewOrder:
    """One order to create (order_create's arguments)."""

    customer: Customer
    actor: object
    external_id: str
    number: str
    total: Decimal
    currency: str
    placed_at: datetime
    state: str
    raw_status: str
    observed_at: datetime
    event_ref: str = ""
    system: str = OrderSystem.WOOCOMMERCE
    namespace: str = ""
    paid_at: datetime | None = None
    refunded_total: Decimal = Decimal("0")


@dataclass
class Followers:
    """The order changes of a batch, per customer and in the order they were applied, so that the
    customers' stages follow them as they would have one order at a time."""

    steps: dict = field(default_factory=dict)  # customer id -> [(order id, new state, actor, placed_at if created)]
    before: dict = field(default_factory=dict)  # order id -> its state before the batch (absent: created in it)

    def created(self, order, actor):
        self.steps.setdefault(order.customer_id, []).append((order.pk, order.state, actor, order.placed_at))

    def moved(self, order, from_state, actor):
        self.before.setdefault(order.pk, from_state)
        self.steps.setdefault(order.customer_id, []).append((order.pk, order.state, actor, None))


def orders_create_many(new_orders, events, followers):
    """Insert the orders and their source states; the orders, in the same order."""
    now = timezone.now()
    orders = [
        Order(customer=n.customer, system=n.system, namespace=n.namespace, external_id=str(n.external_id),
              number=str(n.number), total=n.total, refunded_total=n.refunded_total, currency=n.currency.upper(),
              placed_at=n.placed_at, paid_at=n.paid_at, state=n.state, state_changed_at=now)
        for n in new_orders
    ]
    rows.insert_many(Order, orders)
    rows.insert_many(OrderSourceState, [
        OrderSourceState(order=order, system=n.system, raw_status=n.raw_status,
                         observed_at=n.observed_at or n.placed_at, event_ref=n.event_ref[:200], received_at=now)
        for order, n in zip(orders, new_orders) if n.raw_status
    ])
    for order, n in zip(orders, new_orders):
        events.append(timeline.order_created_event(order=order, actor=n.actor))
        followers.created(order, n.actor)
    return orders


def observe_sources_many(observations):
    """Store what a system says now about orders the caller locked and found older:
    (order, system, raw_status, observed_at, event_ref, source_state_id or None) each."""
    now = timezone.now()
    changed, added = [], []
    for order, system, raw_status, observed_at, event_ref, state_id in observations:
        row = OrderSourceState(id=state_id, order=order, system=system, raw_status=raw_status,
                               observed_at=observed_at, event_ref=event_ref[:200], received_at=now)
        (changed if state_id else added).append(row)
    if changed:
        rows.update_many(OrderSourceState, changed, ["raw_status", "observed_at", "event_ref", "received_at"])
    if added:
        rows.insert_many(OrderSourceState, added)


def order_move_in_batch(order, to_state, actor, raw_status, events, followers):
    """order_transition(locked=True) without the write: move the locked `order` in memory and
    collect its event; True when it moved. Raises OrderTransitionRefused (nothing changed) like it.
    The caller writes the orders with orders_save_many."""
    method = _transition_for(order, to_state)
    if method is None:
        return False
    from_state = order.state
    method()
    order.state_changed_at = timezone.now()
    if to_state in PAID_STATES and order.paid_at is None:
        order.paid_at = order.state_changed_at
    events.append(timeline.order_state_changed_event(order=order, from_state=from_state, to_state=to_state,
                                                     actor=actor, raw_status=raw_status))
    followers.moved(order, from_state, actor)
    return True


def orders_save_many(orders):
    """Write the state and amounts of locked orders changed in memory, in one UPDATE."""
    if not orders:
        return
    now = timezone.now()
    for order in orders:
        order.updated_at = now
    rows.update_many(Order, orders, ["state", "state_changed_at", "paid_at", "total", "refunded_total",
                                       "updated_at"])


def follow_orders_many(followers, events):
    """_follow_orders for every customer in `followers`: its orders' changes are replayed in the
    order they were applied, each followed by the stage move it dictates (first order date
    included), as one order at a time would have moved it; then each customer whose stage changed
    is handed to its new stage's team (route_many), once."""
    if not followers.steps:
        return
    ids = sorted(followers.steps)
    customers = list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    created = {order_id for steps in followers.steps.values() for order_id, _, _, placed_at in steps if placed_at}
    order_facts, states = {}, {}  # facts for routing (newest first); each order's state before the batch
    for customer_id, order_id, state, *facts in (
        Order.objects.filter(customer_id__in=ids).order_by("customer_id", "-placed_at", "-pk")
        .values_list("customer_id", "pk", "state", "namespace", "total", "product_categories")
    ):
        order_facts.setdefault(customer_id, []).append(facts)
        if order_id not in created:
            states.setdefault(customer_id, {})[order_id] = followers.before.get(order_id, state)
    now, changed, routes = timezone.now(), [], []
    for customer in customers:
        from_stage, seen, mover = customer.stage, states.get(customer.pk, {}), None
        dirty = False
        for order_id, state, actor, placed_at in followers.steps[customer.pk]:
            seen[order_id] = state
            if placed_at and (customer.first_order_at is None or placed_at < customer.first_order_at):
                customer.first_order_at, dirty = placed_at, True
            paid = sum(1 for s in seen.values() if s in PAID_STATES)
            move = _stage_move_for(customer, paid=paid, all_dead=all(s in DEAD_STATES for s in seen.values()))
            if move:
                before = customer.stage
                getattr(customer, move)()
                customer.stage_changed_at, dirty, mover = now, True, actor
                events.append(timeline.stage_changed_event(customer=customer, from_stage=before,
                                                           to_stage=customer.stage, transition=move, reason="",
                                                           actor=actor))
        if customer.stage != from_stage:
            routes.append(RouteRequest(customer=customer, stage=customer.stage, actor=mover,
                                       reason=f"Stage {from_stage} → {customer.stage}",
                                       facts=facts_from_orders(customer, customer.stage,
                                                               order_facts.get(customer.pk, []))))
        if dirty:
            customer.updated_at = now
            changed.append(customer)
    if changed:
        rows.update_many(Customer, changed, ["first_order_at", "stage", "stage_changed_at", "updated_at"])
    if routes:
        route_many(routes, events)
