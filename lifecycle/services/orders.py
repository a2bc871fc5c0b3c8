"""Orders: creation, canonical state changes, and what they mean for the customer's stage."""

import functools
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_fsm import can_proceed

from lifecycle.models import DEAD_STATES, ORDER_TRANSITION_BY_TARGET, PAID_STATES, Customer, Order, OrderSourceState
from lifecycle.models import OrderState, Stage
from lifecycle.models import System as OrderSystem
from lifecycle.services import timeline
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.stages import customer_move_stage

# DOMAIN.md: a second paid order inside the first 30 days makes an onboarding customer active.
ONBOARDING_WINDOW = timedelta(days=30)


def order_create(
    *, customer, actor, external_id, number, total, currency, placed_at, state=OrderState.PENDING_PAYMENT,
    system=OrderSystem.WOOCOMMERCE, namespace="", paid_at=None, raw_status="", observed_at=None, event_ref="",
):
    """Create an order in its first canonical state; the customer's first order gives it an owner."""
    with transaction.atomic():
        order = Order.objects.create(
            customer=customer, system=system, namespace=namespace, external_id=str(external_id), number=str(number),
            total=total, currency=currency.upper(), placed_at=placed_at, paid_at=paid_at, state=state,
            state_changed_at=timezone.now(),
        )
        if raw_status:
            OrderSourceState.objects.create(
                order=order, system=system, raw_status=raw_status, observed_at=observed_at or placed_at,
                event_ref=event_ref,
            )
        timeline.record_order_created(order=order, actor=actor)
        _follow_orders(customer_id=customer.pk, actor=actor, first_order_at=placed_at)
    return order


def order_transition(*, order, to_state, actor, raw_status="", source="shop", locked=False):
    """Move the order's canonical state; True when it changed, False when already there.

    A move the graph forbids raises OrderTransitionRefused and changes nothing. `locked=True`: the
    caller holds the order's row lock in its transaction and `order` was read under it, so it is
    moved in place without being read again (the webhook path).
    """
    if locked:
        if not connection.in_atomic_block:
            raise RuntimeError("order_transition(locked=True) needs the caller's transaction")
        # Checked before the block: a refusal leaves the caller's transaction usable.
        method = _transition_for(order, to_state)
        if method is None:
            return False
        with transaction.atomic(savepoint=False):
            _apply_transition(order, method, to_state, actor, raw_status, source)
        return True
    with transaction.atomic():
        current = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
        method = _transition_for(current, to_state)
        if method is None:
            return False
        _apply_transition(current, method, to_state, actor, raw_status, source)
    order.refresh_from_db()
    return True


def _transition_for(order, to_state):
    """The bound transition that takes `order` to `to_state`; None when it is there already."""
    if order.state == to_state:
        return None
    if order.state == OrderState.DELETED:
        return functools.partial(order.restore, to_state)
    name = ORDER_TRANSITION_BY_TARGET.get(to_state)
    method = getattr(order, name, None) if name else None
    if method is None or not can_proceed(method):
        raise OrderTransitionRefused(f"Order #{order.number} cannot go from {order.state} to {to_state}.")
    return method


def _apply_transition(order, method, to_state, actor, raw_status, source):
    from_state = order.state
    method()
    order.state_changed_at = timezone.now()
    if to_state in PAID_STATES and order.paid_at is None:
        order.paid_at = order.state_changed_at
    order.save()
    timeline.record_order_state_changed(
        order=order, from_state=from_state, to_state=to_state, actor=actor, raw_status=raw_status, source=source
    )
    _follow_orders(customer_id=order.customer_id, actor=actor)


def _follow_orders(*, customer_id, actor, first_order_at=None):
    """Move the customer's stage as its orders dictate (DOMAIN.md, "enters when")."""
    customer = Customer.objects.get(pk=customer_id)
    if first_order_at and (customer.first_order_at is None or first_order_at < customer.first_order_at):
        Customer.objects.filter(pk=customer_id).update(first_order_at=first_order_at)
        customer.first_order_at = first_order_at
    states = list(Order.objects.filter(customer_id=customer_id).values_list("state", flat=True))
    paid = sum(1 for s in states if s in PAID_STATES)
    move = _stage_move_for(customer, paid=paid, all_dead=bool(states) and all(s in DEAD_STATES for s in states))
    if move:
        customer_move_stage(customer=customer, transition=move, actor=actor)


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


def order_observe_source(*, order, system, raw_status, observed_at, event_ref=""):
    """Record what `system` says about the order now; False (and nothing written) when it is older
    than what is stored, so a late, out-of-order delivery never overwrites newer truth.

    The common case (a newer status of a known order) is one conditional UPDATE; the row lock it
    takes, like the order lock callers hold, keeps two deliveries from both winning.
    """
    fields = {"raw_status": raw_status, "observed_at": observed_at, "event_ref": event_ref[:200],
              "received_at": timezone.now()}
    states = OrderSourceState.objects.filter(order=order, system=system)
    if states.filter(observed_at__lt=observed_at).update(**fields):
        return True
    with transaction.atomic():
        if states.select_for_update().exists():
            return False  # stored is as new or newer
        OrderSourceState.objects.create(order=order, system=system, **fields)
    return True


def order_update_amounts(*, order, total, refunded_total):
    """Totals as the shop reports them (refunds change them without a status change)."""
    if (order.total, order.refunded_total) == (total, refunded_total):
        return False
    Order.objects.filter(pk=order.pk).update(total=total, refunded_total=refunded_total, updated_at=timezone.now())
    order.total, order.refunded_total = total, refunded_total
    return True
