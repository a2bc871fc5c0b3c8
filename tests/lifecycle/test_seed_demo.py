"""seed_demo: a demo in every stage and order state, built through the services, safe to rerun."""

import io

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count

from lifecycle.models import (
    Agent,
    Customer,
    CustomerIdentity,
    Handoff,
    Order,
    OrderSourceState,
    OrderState,
    Ownership,
    Stage,
    Team,
    TimelineEvent,
)

CUSTOMERS = 30  # every scenario once (see demo_data.SCENARIOS) and then some; small enough to stay fast
DEMO_LOGINS = ["manager", "agent", "amira", "bruno", "chen", "dana", "emil", "ops"]


@pytest.fixture
def seed(db, settings, monkeypatch):
    # The demo password is hashed once per run; a fast hasher keeps authenticate() cheap here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("AFTERCARE_DEMO_PASSWORD", raising=False)

    def run():
        out = io.StringIO()
        call_command("seed_demo", customers=CUSTOMERS, stdout=out)
        return out.getvalue()

    return run


def counts():
    models = [User, Agent, Team, Team.history.model, Customer, CustomerIdentity, Order, OrderSourceState,
              Ownership, Handoff, TimelineEvent]
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_covers_every_stage_and_order_state_and_reruns_without_duplicates(seed):
    # when
    output = seed()

    # then: every stage has customers, every canonical order state has orders
    stages = dict(Customer.objects.values_list("stage").annotate(n=Count("pk")))
    assert Customer.objects.count() == CUSTOMERS
    assert {s.value for s in Stage} <= {stage for stage, n in stages.items() if n}, stages
    states = set(Order.objects.values_list("state", flat=True))
    assert {s.value for s in OrderState} <= states, {s.value for s in OrderState} - states

    # and: every customer with orders has exactly one owner and a handoff history; prospects none
    with_orders = Customer.objects.filter(orders__isnull=False).distinct()
    owners = dict(Ownership.objects.values_list("customer_id").annotate(n=Count("pk")))
    assert all(owners.get(pk) == 1 for pk in with_orders.values_list("pk", flat=True))
    assert not with_orders.filter(handoffs__isnull=True).exists()
    assert not Ownership.objects.filter(customer__stage=Stage.PROSPECT).exists()
    # and: some owners were changed by hand, by the manager, with a reason
    manual = Handoff.objects.filter(rule="manual")
    assert manual.exists() and all(h.actor_user.username == "manager" and h.reason for h in manual)

    # when: it runs again, nothing is duplicated or changed
    before = counts()
    again = seed()
    assert counts() == before
    assert f"0 created, {CUSTOMERS} already there" in again

    # then: the demo logins work with the default password and sit in their groups
    for username in DEMO_LOGINS:
        assert username in output
        user = authenticate(username=username, password="aftercare-demo")
        assert user is not None and user.is_staff, username
    assert User.objects.get(username="manager").groups.filter(name="Manager").exists()
    assert User.objects.get(username="ops").groups.filter(name="Operations").exists()
    assert Agent.objects.get(user__username="amira").user.groups.filter(name="Support agent").exists()
    assert Team.objects.filter(manager__username="manager").exists()
