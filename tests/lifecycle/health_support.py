"""Arranging health scenarios: customers with orders through the services, journey steps as the
journeys' own rows, and a recompute "as of" a later moment (time moves forward, history stays)."""

from datetime import timedelta

from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import (
    HealthScore,
    Journey,
    JourneyStep,
    Playbook,
    PlaybookVersion,
    Team,
)
from lifecycle.services.health import health_recompute
from tests.factories import make_customer, make_order

TASK = Actor.task("tests")


def paid_customer(orders=1, *, paid_days_ago=0, state="paid", **extra):
    """A customer with `orders` paid orders, paid `paid_days_ago` days ago."""
    customer = make_customer(**extra)
    paid_at = timezone.now() - timedelta(days=paid_days_ago)
    for _ in range(orders):
        make_order(customer, state=state, paid_at=paid_at, placed_at=paid_at)
    customer.refresh_from_db()
    return customer


def recompute(*customers, days_later=0, automate=True):
    """Recompute these customers' scores as of `days_later` days from now; their HealthScores."""
    now = timezone.now() + timedelta(days=days_later)
    health_recompute(customer_ids=[c.pk for c in customers], actor=TASK, automate=automate, now=now)
    found = {s.customer_id: s for s in HealthScore.objects.filter(customer__in=[c.pk for c in customers])}
    return found[customers[0].pk] if len(customers) == 1 else [found[c.pk] for c in customers]


def journey_steps(customer, *states):
    """A journey for `customer` with one step per state given (done, late, missed, pending, skipped)."""
    team = Team.objects.get(slug="success")
    playbook, _ = Playbook.objects.get_or_create(name="Health tests")
    version, _ = PlaybookVersion.objects.get_or_create(playbook=playbook, number=1)
    now = timezone.now()
    journey = Journey.objects.create(customer=customer, playbook=playbook, version=version, started_at=now)
    for i, state in enumerate(states):
        JourneyStep.objects.create(journey=journey, customer=customer, position=i, key=f"step-{i}", name=f"Step {i}",
                                   team=team, state=state, calendar_due_at=now, due_at=now)
    return journey
