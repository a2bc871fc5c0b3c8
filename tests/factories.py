"""Test data, built through the services so tests see what production sees."""

import itertools
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import Agent, Team
from lifecycle.services.customers import customer_create
from lifecycle.services.orders import order_create

_seq = itertools.count(1)
SYSTEM = Actor.system("tests")


def make_user(username=None, *, group=None, password="pw", **extra):
    username = username or f"user{next(_seq)}"
    user = User.objects.create_user(username=username, password=password, email=f"{username}@example.com", **extra)
    if group:
        user.groups.add(Group.objects.get(name=group))
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def make_agent(user=None, *, teams=("support",), capacity=40, available=True):
    user = user or make_user(group="Support agent")
    agent = Agent.objects.create(user=user, capacity=capacity, is_available=available)
    agent.teams.set(Team.objects.filter(slug__in=teams))
    return agent


def team(slug):
    return Team.objects.get(slug=slug)


def make_customer(*, email=None, name=None, actor=SYSTEM, **extra):
    n = next(_seq)
    return customer_create(
        actor=actor, display_name=name or f"Customer {n}", email=email or f"customer{n}@example.com", **extra
    )


def make_order(customer, *, state="pending_payment", total="49.90", actor=SYSTEM, **extra):
    n = next(_seq)
    defaults = {
        "external_id": str(n),
        "number": str(1000 + n),
        "total": Decimal(total),
        "currency": "EUR",
        "placed_at": timezone.now(),
        "state": state,
    }
    defaults.update(extra)
    return order_create(customer=customer, actor=actor, **defaults)


def make_owned_customer(*, paid=False, **extra):
    """A customer past its first order: purchased (unpaid) or onboarding (paid), with an owner."""
    customer = make_customer(**extra)
    make_order(customer, state="paid" if paid else "pending_payment")
    customer.refresh_from_db()
    return customer


def make_source_state(*, order, system, raw_status, observed_at, event_ref=""):
    """What another system (the ERP, the CRM) says about an order, as their imports will store it."""
    from lifecycle.models import OrderSourceState

    state, _ = OrderSourceState.objects.update_or_create(
        order=order, system=system,
        defaults={"raw_status": raw_status, "observed_at": observed_at, "event_ref": event_ref})
    return state
