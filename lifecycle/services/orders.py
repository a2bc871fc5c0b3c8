"""Orders: creation, canonical state changes, and what they mean for the customer's stage.

One path for one order and for many (a backfill page, a store's waiting deliveries, an import):
the caller holds one transaction and the row locks of the orders it changes; rows go in with one
INSERT or UPDATE per table, timeline events are collected in `events` for the caller to insert
once, and the customers whose orders changed follow them (stage moves and routing) together at the
end (orders_follow). order_create and order_transition are batches of one.

A customer whose orders move it through several stages in one batch (a new customer's unpaid,
then paid order) records every stage change, replayed in order, but is handed over once, to the
team of the stage it ends in, not to each team in between.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django_fsm import can_proceed

from lifecycle.db import orders as order_rows
from lifecycle.db import rows
from lifecycle.models import DEAD_STATES, ORDER_TRANSITION_BY_TARGET, PAID_STATES, Customer, Order, OrderSourceState
from lifecycle.models import EventSource, OrderState, Stage, TimelineEvent
from lifecycle.models import System as OrderSystem
from lifecycle.services import timeline
from lifecycle.services.customer_changes import customers_changed, order_changes
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.stages import stage_step, stages_follow

# DOMAIN.md: a second paid order inside the first 30 days makes an onboarding customer active.
ONBOARDING_WINDOW = timedelta(days=30)


@dataclass
class NewOrder:
    """One order to create."""

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


def orders_create(new_orders, events, followers):
    """Insert the orders and their source states; the orders, in the same order."""
    now = timezone.now()
    made = [
        Order(customer=n.customer, system=n.system, namespace=n.namespace, external_id=str(n.external_id),
              number=str(n.number), total=n.total, refunded_total=n.refunded_total, currency=n.currency.upper(),
              placed_at=n.placed_at, paid_at=n.paid_at, state=n.state, state_changed_at=now)
        for n in new_orders
    ]
    rows.insert_many(Order, made)
    rows.insert_many(OrderSourceState, [
        OrderSourceState(order=order, system=n.system, raw_status=n.raw_status,
                         observed_at=n.observed_at or n.placed_at, event_ref=n.event_ref[:200], received_at=now)
        for order, n in zip(made, new_orders) if n.raw_status
    ])
    for order, n in zip(made, new_orders):
        events.append(timeline.order_created_event(order=order, actor=n.actor, source=timeline.source_of(n.system)))
        followers.created(order, n.actor)
    return made


def source_states_write(observations):
    """Store what a system says now about orders the caller locked and found older:
    (order, system, raw_status, observed_at, event_ref[, total]) each;
    `total` is the system's own total for an order born elsewhere (the ERP's), else left empty.
    One upsert on the (order, system) pair, from plain values: a batch's thousand states are one
    statement, whether the system had spoken of the order before or not."""
    now = timezone.now()
    rows.upsert_values(OrderSourceState, SOURCE_STATE_KEY + SOURCE_STATE_FIELDS, [
        (order.pk, system, raw_status, observed_at, event_ref[:200], now, total[0] if total else None)
        for order, system, raw_status, observed_at, event_ref, *total in observations
    ], unique=SOURCE_STATE_KEY, update=SOURCE_STATE_FIELDS)


# A source state is one per (order, system); what an observation writes on it.
SOURCE_STATE_KEY = ("order_id", "system")
SOURCE_STATE_FIELDS = ("raw_status", "observed_at", "event_ref", "received_at", "total")


def transition_for(order, to_state):
    """The bound transition that takes `order` to `to_state`; None when it is there already.
    Raises OrderTransitionRefused when the graph forbids the move."""
    if order.state == to_state:
        return None
    if order.state == OrderState.DELETED:
        return functools.partial(order.restore, to_state)
    name = ORDER_TRANSITION_BY_TARGET.get(to_state)
    method = getattr(order, name, None) if name else None
    if method is None or not can_proceed(method):
        raise OrderTransitionRefused(f"Order #{order.number} cannot go from {order.state} to {to_state}.")
    return method


# (from, to) of every move the state graph allows.
MOVES = frozenset((str(t.source), str(t.target)) for t in Order._meta.get_field("state").get_all_transitions(Order))


@functools.cache
def _steps_through(from_state, to_state, through):
    """The shortest way from one state to another whose steps between are all in `through`: the
    states after `from_state`, ending with `to_state`; () when there is none. Asked once per pair
    (an import's orders take the same few ways)."""
    paths, seen = [[str(from_state)]], {str(from_state)}
    while paths:
        longer = []
        for path in paths:
            for source, target in MOVES:
                if source != path[-1] or target in seen:
                    continue
                if target == to_state:
                    return (*path[1:], target)
                if target in through:
                    seen.add(target)
                    longer.append(path + [target])
        paths = longer
    return ()


def order_move(order, to_state, actor, raw_status, events, followers, source=EventSource.SHOP, through=()):
    """Move the locked `order` to `to_state` by its transition, in memory, and collect its event;
    True when it moved. Raises OrderTransitionRefused (nothing changed) for a move the graph
    forbids. `through`: states the order may pass on its way when the graph has no direct move,
    one transition and event each (a system whose snapshots skip steps: the ERP's delivered order
    was shipped). The caller writes the orders with orders_save."""
    try:
        method = transition_for(order, to_state)
    except OrderTransitionRefused:
        steps = _steps_through(str(order.state), str(to_state), through) if through else ()
        if not steps:
            raise
        for step in steps:
            order_move(order, step, actor, raw_status, events, followers, source=source)
        return True
    if method is None:
        return False
    from_state = order.state
    method()
    order.state_changed_at = timezone.now()
    if to_state in PAID_STATES and order.paid_at is None:
        order.paid_at = order.state_changed_at
    events.append(timeline.order_state_changed_event(order=order, from_state=from_state, to_state=to_state,
                                                     actor=actor, raw_status=raw_status, source=source))
    followers.moved(order, from_state, actor)
    return True


def orders_save(changed):
    """Write the state (moved by order_move's transitions) and amounts of locked orders, in one UPDATE."""
    if not changed:
        return
    now = timezone.now()
    for order in changed:
        order.updated_at = now
    rows.update_many(Order, changed, ["state", "state_changed_at", "paid_at", "total", "refunded_total",
                                      "updated_at"])


def orders_follow(followers, events):
    """Move every customer in `followers` through the stages its orders dictate (DOMAIN.md, "enters
    when"): its orders' changes are replayed in the order they were applied, each followed by the
    stage move it dictates (first order date included), as one order at a time would have moved it;
    then each customer whose stage changed is handed to its new stage's team, once (stages_follow).

    What it reads of a customer's other orders does not grow with its history: their paid and live
    counts, read with the customers' locks in one statement. Most orders move no customer (an ERP
    import's thousand deliveries): the replay runs on those plain values first, and only the
    customers it changes are loaded, to move by their transitions.
    """
    if not followers.steps:
        return
    customers_changed(order_changes, followers.steps)  # the CRM's deals: every order created or moved
    touched = {order_id for steps in followers.steps.values() for order_id, *_ in steps}
    facts = order_rows.followers_lock(followers.steps, touched)
    changing = [pk for pk, (stage, first_order_at, paid, live) in facts.items() if _replay(
        _Standing(stage, rows.convert(Customer, "first_order_at", first_order_at)), followers.steps[pk],
        paid, live, followers.before)[0]]
    changes = []
    for customer in Customer.objects.filter(pk__in=changing).order_by("pk") if changing else ():
        from_stage, (_, _, paid, live) = customer.stage, facts[customer.pk]
        dirty, mover = _replay(customer, followers.steps[customer.pk], paid, live, followers.before,
                               step=lambda move, actor, customer=customer: stage_step(customer, move, actor, "", events))
        if dirty:
            changes.append((customer, from_stage, mover, ""))
    stages_follow(changes)


class _Standing:
    """What a stage move reads of a customer not loaded (orders_follow): its stage, first order date."""

    __slots__ = ("first_order_at", "stage")

    def __init__(self, stage, first_order_at):
        self.stage, self.first_order_at = stage, first_order_at


def _replay(customer, steps, paid_before, live_before, before, step=None):
    """Replay one customer's order changes (orders_follow) from its other orders' counts; `step(move,
    actor)` makes each stage move they dictate. Returns (changed, actor of the last move): changed
    when its stage or first order date did. Without `step` it only asks: (True, None) at the first
    change."""
    # The touched orders as they were before the batch; created ones join at their step.
    seen = {order_id: before[order_id] for order_id, *_ in steps if order_id in before}
    mover, dirty = None, False
    for order_id, state, actor, placed_at in steps:
        seen[order_id] = state
        if placed_at and (customer.first_order_at is None or placed_at < customer.first_order_at):
            if step is None:
                return True, None
            customer.first_order_at, dirty = placed_at, True
        paid = paid_before + sum(1 for s in seen.values() if s in PAID_STATES)
        all_dead = live_before == 0 and all(s in DEAD_STATES for s in seen.values())
        move = _stage_move_for(customer, paid=paid, all_dead=all_dead)
        if move:
            if step is None:
                return True, None
            step(move, actor)
            mover, dirty = actor, True
    return dirty, mover


def _stage_move_for(customer, *, paid, all_dead):
    stage = customer.stage
    if all_dead and stage != Stage.PROSPECT:
        return "churn" if stage != Stage.CHURNED else None
    if stage == Stage.PROSPECT:
        return "start_onboarding" if paid else "purchase"
    if stage == Stage.PURCHASED and paid:
        return "start_onboarding"
    if stage == Stage.ONBOARDING and paid >= 2 and customer.first_order_at and (
        timezone.now() - customer.first_order_at <= ONBOARDING_WINDOW
    ):
        return "activate"
    if stage == Stage.CHURNED and paid:
        return "activate"
    return None


def order_create(
    *, customer, actor, external_id, number, total, currency, placed_at, state=OrderState.PENDING_PAYMENT,
    system=OrderSystem.WOOCOMMERCE, namespace="", paid_at=None, raw_status="", observed_at=None, event_ref="",
):
    """Create one order in its first canonical state; the customer's first order gives it an owner."""
    with transaction.atomic():
        events, followers = [], Followers()
        [order] = orders_create([NewOrder(
            customer=customer, actor=actor, external_id=external_id, number=number, total=total, currency=currency,
            placed_at=placed_at, state=state, raw_status=raw_status, observed_at=observed_at, event_ref=event_ref,
            system=system, namespace=namespace, paid_at=paid_at,
        )], events, followers)
        orders_follow(followers, events)
        rows.insert_many(TimelineEvent, events)
    return order


def order_transition(*, order, to_state, actor, raw_status="", source=EventSource.SHOP, locked=False,
                     system=None, observed_at=None, event_ref="", through=()):
    """Move one order's canonical state; True when it changed, False when already there.

    A move the graph forbids raises OrderTransitionRefused and changes nothing. `locked=True`: the
    caller holds the order's row lock in its transaction and `order` was read under it, so it is
    moved in place without being read again. `system`: the move is what that system reported (the
    ERP's warehouse steps, where no observation path exists yet): `raw_status` is stored as its
    source state for the order, observed at `observed_at` (now if not given), so the order's
    systems say what moved it. `through`: as order_move's.
    """
    if locked and not connection.in_atomic_block:
        raise RuntimeError("order_transition(locked=True) needs the caller's transaction")
    with transaction.atomic():
        current = order if locked else Order.objects.select_for_update(no_key=True).get(pk=order.pk)
        events, followers = [], Followers()
        moved = order_move(current, to_state, actor, raw_status, events, followers, source=source, through=through)
        if system:
            source_states_write([(current, system, raw_status, observed_at or timezone.now(), event_ref)])
        if not moved:
            return False
        orders_save([current])
        orders_follow(followers, events)
        rows.insert_many(TimelineEvent, events)
    if not locked:
        order.refresh_from_db()
    return True
