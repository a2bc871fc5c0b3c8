"""Helpers of the journey tests: a paid customer at a chosen moment, the signals systems send, and
the follower and sweep as the beat runs them."""

from datetime import timedelta

from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import Journey, JourneyStep
from lifecycle.services import timeline
from lifecycle.services.journeys.follow import journeys_follow
from lifecycle.services.journeys.sweep import journeys_sweep
from lifecycle.services.orders import order_transition
from tests.factories import SYSTEM, make_customer, make_order

TASK = Actor.task("tests")
DAY = timedelta(days=1)


def paid_customer(*, days_ago=0, total="49.90", **order_extra):
    """A new customer whose first order was paid `days_ago` days ago: (customer, order, paid at)."""
    paid_at = timezone.now() - days_ago * DAY
    customer = make_customer()
    order = make_order(customer, state="paid", total=total, placed_at=paid_at - timedelta(minutes=5),
                       paid_at=paid_at, **order_extra)
    customer.refresh_from_db()
    return customer, order, paid_at


def journey_of(customer):
    return Journey.objects.get(customer=customer)


def step(customer, key):
    return JourneyStep.objects.get(journey__customer=customer, key=key)


def crm_activity(customer, kind, at, n=[0]):
    n[0] += 1
    return timeline.crm_activity_event(customer_id=customer.pk, activity_type=kind, activity_id=f"a{n[0]}",
                                       occurred_at=at, actor=Actor.system("crm"), subject="Hello").save()


def ship(order, to_state, *, source="erp"):
    order_transition(order=order, to_state=to_state, actor=SYSTEM, source=source)


def follow(now=None):
    return journeys_follow(actor=TASK, now=now)


def sweep(now=None):
    return journeys_sweep(actor=TASK, now=now)
