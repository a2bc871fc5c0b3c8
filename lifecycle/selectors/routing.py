"""Reads that routing and re-routing make; each is a bounded number of queries.

The reads every routing decision makes are hand-written SQL (lifecycle/db/routing.py): here they
become the values routing decides on.
"""

import json
from decimal import Decimal

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from lifecycle.config_cache import ConfigCache
from lifecycle.db import routing as routing_rows
from lifecycle.models import OPEN_STATUSES, Customer, ExceptionCase, Ownership, RoutingRule, StagePolicy
from lifecycle.rules import AgentLoad, CustomerFacts, Rule, folded


def _money(value):
    # SQLite hands a raw cursor numbers, PostgreSQL Decimals: compare order totals as Decimals.
    return None if value is None else Decimal(str(value))


# Read by every routing decision, edited by managers now and then: kept per process (config_cache.py).
_config = ConfigCache("routing")


@receiver([post_save, post_delete], sender=RoutingRule)
@receiver([post_save, post_delete], sender=StagePolicy)
def _routing_changed(sender, **kwargs):
    _config.changed()


def routing_config(stage):
    """(the stage's default team id or None, the active rules in the order they are tried)."""
    return _config.get("routing", stage, _load_routing_config)


def _load_routing_config(stage):
    rows = routing_rows.routing_config(stage)
    rules = [
        Rule(pk=pk, team_id=team_id, priority=priority, stage=stage_, store=store, country=country,
             min_order_total=_money(low), max_order_total=_money(high), product_category=category,
             customer_tag=tag)
        for _, pk, team_id, priority, stage_, store, country, low, high, category, tag in rows
        if pk is not None
    ]
    return (rows[0][0] if rows else None), tuple(rules)


def agent_loads(team):
    """Each agent of the team with their open items: customers owned + open exceptions assigned
    (one query whatever the team size)."""
    rows = routing_rows.agent_loads(getattr(team, "pk", team))
    return [
        AgentLoad(agent_id=pk, open_items=customers + exceptions, capacity=capacity, is_available=bool(available),
                  is_active=bool(active))
        for pk, capacity, available, active, customers, exceptions in rows
    ]


def _json_list(value):
    # Both backends hand a raw cursor JSON as text (Django decodes it only for model fields).
    value = json.loads(value) if isinstance(value, str | bytes) else value
    return value if isinstance(value, list) else []


def routing_facts_many(requests):
    """{customer id: CustomerFacts} for (customer, stage, triggering order or None) triples: what
    the rules match on, the customer's country and tags and what all its orders say (the order
    value is the triggering order's, else the newest one's). One query over the customers' orders."""
    ids = sorted({customer.pk for customer, _, _ in requests})
    found = {pk: [] for pk in ids}
    if ids:
        for customer_id, *row in routing_rows.customers_orders(ids):
            found[customer_id].append(row)
    return {customer.pk: facts_from_orders(customer, stage, found[customer.pk],
                                           order_total=order.total if order is not None else None)
            for customer, stage, order in requests}


def facts_from_orders(customer, stage, rows, order_total=None):
    """CustomerFacts from the customer's (namespace, total, product_categories) rows, newest first."""
    categories = set()
    for _, _, product_categories in rows:
        categories.update(_json_list(product_categories))
    return CustomerFacts(
        stage=stage,
        country=(customer.country or "").upper(),
        tags=folded(customer.tags if isinstance(customer.tags, list) else []),
        stores=frozenset(namespace for namespace, _, _ in rows if namespace),
        categories=folded(categories),
        order_total=order_total if order_total is not None else (_money(rows[0][1]) if rows else None),
    )


def last_agent_in_team(customer_id, team_id):
    """The agent who most recently owned the customer inside this team (sticky routing)."""
    return routing_rows.last_agent_in_team(customer_id, team_id)


def agent_open_work(agent):
    """What an agent holds: owned customers and assigned open exceptions, each in id order."""
    customers = list(
        Ownership.objects.filter(agent=agent).select_related("customer", "team").order_by("customer_id")
    )
    exceptions = list(
        ExceptionCase.objects.filter(assignee=agent, status__in=OPEN_STATUSES).select_related("queue").order_by("pk")
    )
    return customers, exceptions


def customers_with_orders_and_no_owner():
    """Customers that broke invariant 1 (e.g. loaded around the services); the sweep repairs them."""
    return Customer.objects.filter(Q(orders__isnull=False), ownership__isnull=True).distinct()
