"""The canonical order-state graph and what orders do to the customer's stage and owner."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from lifecycle.models import Order, OrderSourceState, OrderState, Ownership, Stage, TimelineEvent
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.orders import order_transition
from tests.factories import SYSTEM, make_customer, make_order

pytestmark = pytest.mark.django_db

O = OrderState
FIELD = Order._meta.get_field("state")
ALL = [s.value for s in OrderState]


def _sources(target):
    """The states the graph lets an order leave for `target`."""
    if target == O.DELETED:
        return {s for s in ALL if s != O.DELETED}
    return {t.source for t in FIELD.get_all_transitions(Order) if t.target == target and t.name != "restore"}


def _order_in(state):
    customer = make_customer()
    return make_order(customer, state=state)


@pytest.mark.parametrize("target", ALL)
def test_every_allowed_order_transition_works_and_is_on_the_timeline(target):
    for source in sorted(_sources(target)):
        order = _order_in(source)
        assert order_transition(order=order, to_state=target, actor=SYSTEM, raw_status="x") is True
        assert order.state == target
        event = TimelineEvent.objects.get(order=order, kind="order_state_changed")
        assert (event.data["from"], event.data["to"]) == (source, target)


@pytest.mark.parametrize("target", ALL)
def test_every_forbidden_order_transition_raises_and_changes_nothing(target):
    for source in sorted(set(ALL) - _sources(target) - {target, O.DELETED}):
        order = _order_in(source)
        with pytest.raises(OrderTransitionRefused, match=f"cannot go from {source} to {target}"):
            order_transition(order=order, to_state=target, actor=SYSTEM)
        order.refresh_from_db()
        assert order.state == source


def test_a_deleted_order_is_restored_to_the_state_its_systems_report():
    order = _order_in(O.PAID)
    order_transition(order=order, to_state=O.DELETED, actor=SYSTEM)
    order_transition(order=order, to_state=O.COMPLETED, actor=SYSTEM)
    assert order.state == O.COMPLETED
    assert TimelineEvent.objects.filter(order=order, kind="order_state_changed").count() == 2


def test_same_state_is_a_no_op():
    order = _order_in(O.PAID)
    assert order_transition(order=order, to_state=O.PAID, actor=SYSTEM) is False
    assert not TimelineEvent.objects.filter(order=order, kind="order_state_changed").exists()


def test_order_state_cannot_be_assigned_directly():
    order = _order_in(O.PAID)
    with pytest.raises(AttributeError):
        order.state = O.REFUNDED


def test_money_is_decimal_and_times_are_aware():
    order = make_order(make_customer(), total="1234.56", raw_status="pending")
    order.refresh_from_db()
    assert order.total == Decimal("1234.56") and isinstance(order.total, Decimal)
    assert timezone.is_aware(order.placed_at)
    source = OrderSourceState.objects.get(order=order)
    assert (source.system, source.raw_status) == ("woocommerce", "pending")


def test_unpaid_first_order_puts_customer_in_purchased_owned_by_commerce():
    customer = make_customer()
    make_order(customer, state=O.PENDING_PAYMENT)
    customer.refresh_from_db()
    assert customer.stage == Stage.PURCHASED
    assert Ownership.objects.get(customer=customer).team.slug == "commerce"


def test_payment_moves_customer_to_onboarding_owned_by_success():
    customer = make_customer()
    order = make_order(customer, state=O.PENDING_PAYMENT)
    order_transition(order=order, to_state=O.PAID, actor=SYSTEM)
    customer.refresh_from_db()
    order.refresh_from_db()
    assert customer.stage == Stage.ONBOARDING
    assert Ownership.objects.get(customer=customer).team.slug == "success"
    assert order.paid_at is not None


def test_second_paid_order_within_30_days_activates():
    customer = make_customer()
    make_order(customer, state=O.PAID, placed_at=timezone.now() - timedelta(days=3))
    make_order(customer, state=O.PAID)
    customer.refresh_from_db()
    assert customer.stage == Stage.ACTIVE


def test_all_orders_cancelled_churns_the_customer_to_marketing():
    customer = make_customer()
    order = make_order(customer, state=O.PENDING_PAYMENT)
    order_transition(order=order, to_state=O.CANCELLED, actor=SYSTEM)
    customer.refresh_from_db()
    assert customer.stage == Stage.CHURNED
    assert Ownership.objects.get(customer=customer).team.slug == "marketing"
