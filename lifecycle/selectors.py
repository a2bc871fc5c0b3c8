"""Reads the services and the console need; each is a bounded number of queries."""

from django.db.models import Count, Q

from lifecycle.models import Agent, CustomerIdentity, Ownership, StagePolicy
from lifecycle.rules import AgentLoad


def team_for_stage(stage):
    policy = StagePolicy.objects.select_related("team").filter(stage=stage).first()
    return policy.team if policy else None


def agent_loads(team):
    """Each agent of the team with their open customers (one query)."""
    agents = (
        Agent.objects.filter(teams=team)
        .select_related("user")
        .annotate(open_customers=Count("ownerships", distinct=True))
        .order_by("pk")
    )
    return [
        AgentLoad(
            agent_id=agent.pk,
            open_items=agent.open_customers,
            capacity=agent.capacity,
            is_available=agent.is_available,
            is_active=agent.user.is_active,
        )
        for agent in agents
    ]


def current_owner(customer):
    return Ownership.objects.select_related("team", "agent__user").filter(customer=customer).first()


def customer_by_identity(kind, value, namespace=""):
    identity = CustomerIdentity.objects.select_related("customer").filter(
        kind=kind, namespace=namespace, value=value
    ).first()
    return identity.customer if identity else None


def customers_with_orders_and_no_owner():
    """Customers that broke invariant 1 (e.g. loaded around the services); the sweep repairs them."""
    from lifecycle.models import Customer

    return Customer.objects.filter(Q(orders__isnull=False), ownership__isnull=True).distinct()
