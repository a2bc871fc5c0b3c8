"""Reads that routing and re-routing make; each is a bounded number of queries."""

import functools
import json
from decimal import Decimal

from django.db import connection
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from lifecycle.config_cache import ConfigCache
from lifecycle.models import (
    OPEN_STATUSES,
    Agent,
    ExceptionCase,
    Handoff,
    Order,
    Ownership,
    RoutingRule,
    StagePolicy,
)
from lifecycle.rules import AgentLoad, CustomerFacts, Rule, folded


# The reads every routing decision makes are written as SQL: the ORM took longer to build them
# (0.5-4 ms each on a busy machine) than PostgreSQL took to run them, and the routing figure's
# budget is 5 ms for the whole decision. Names come from the models, so a renamed column fails loudly.
def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _col(model, name, alias):
    return f"{alias}.{connection.ops.quote_name(model._meta.get_field(name).column)}"


@functools.cache
def _loads_sql():
    User, Teams = Agent._meta.get_field("user").related_model, Agent.teams.through
    agent_id = _col(Agent, "id", "a")
    statuses = ", ".join(["%s"] * len(OPEN_STATUSES))
    return (
        f"SELECT {agent_id}, {_col(Agent, 'capacity', 'a')}, {_col(Agent, 'is_available', 'a')}, "
        f"{_col(User, 'is_active', 'u')}, "
        f"(SELECT COUNT(*) FROM {_table(Ownership)} o WHERE {_col(Ownership, 'agent', 'o')} = {agent_id}), "
        f"(SELECT COUNT(*) FROM {_table(ExceptionCase)} x WHERE {_col(ExceptionCase, 'assignee', 'x')} = {agent_id} "
        f"AND {_col(ExceptionCase, 'status', 'x')} IN ({statuses})) "
        f"FROM {_table(Agent)} a "
        f"JOIN {_table(Teams)} m ON {_col(Teams, 'agent', 'm')} = {agent_id} "
        f"JOIN {_table(User)} u ON {_col(User, 'id', 'u')} = {_col(Agent, 'user', 'a')} "
        f"WHERE {_col(Teams, 'team', 'm')} = %s ORDER BY {agent_id}"
    )


_RULE_FIELDS = ["id", "team", "priority", "stage", "store", "country", "min_order_total", "max_order_total",
                "product_category", "customer_tag"]


@functools.cache
def _config_sql():
    # One row per active rule in the order they are tried, each carrying the stage's default team;
    # the LEFT JOIN from a one-row table keeps that default when no rule is active.
    rule_columns = ", ".join(_col(RoutingRule, name, "r") for name in _RULE_FIELDS)
    return (
        f"SELECT d.team_id, {rule_columns} FROM (SELECT (SELECT {_col(StagePolicy, 'team', 'p')} "
        f"FROM {_table(StagePolicy)} p WHERE {_col(StagePolicy, 'stage', 'p')} = %s) AS team_id) d "
        f"LEFT JOIN {_table(RoutingRule)} r ON {_col(RoutingRule, 'is_active', 'r')} = %s "
        f"ORDER BY {_col(RoutingRule, 'priority', 'r')}, {_col(RoutingRule, 'id', 'r')}"
    )


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
    with connection.cursor() as cursor:
        cursor.execute(_config_sql(), [stage, True])
        rows = cursor.fetchall()
    rules = [
        Rule(pk=pk, team_id=team_id, priority=priority, stage=stage_, store=store, country=country,
             min_order_total=_money(low), max_order_total=_money(high), product_category=category,
             customer_tag=tag)
        for _, pk, team_id, priority, stage_, store, country, low, high, category, tag in rows
        if pk is not None
    ]
    return (rows[0][0] if rows else None), tuple(rules)


def agent_loads(team):
    """Each agent of the team with their open items: customers owned + open exceptions assigned.

    One query whatever the team size: two correlated COUNTs on indexed foreign keys (a JOIN of both
    relations would multiply rows; counting per agent would be N+1).
    """
    team_id = getattr(team, "pk", team)
    with connection.cursor() as cursor:
        cursor.execute(_loads_sql(), [*[str(s) for s in OPEN_STATUSES], team_id])
        rows = cursor.fetchall()
    return [
        AgentLoad(agent_id=pk, open_items=customers + exceptions, capacity=capacity, is_available=bool(available),
                  is_active=bool(active))
        for pk, capacity, available, active, customers, exceptions in rows
    ]


@functools.cache
def _orders_sql(count):
    return (
        f"SELECT {_col(Order, 'customer', 'o')}, {_col(Order, 'namespace', 'o')}, {_col(Order, 'total', 'o')}, "
        f"{_col(Order, 'product_categories', 'o')} "
        f"FROM {_table(Order)} o WHERE {_col(Order, 'customer', 'o')} IN ({', '.join(['%s'] * count)}) "
        f"ORDER BY {_col(Order, 'customer', 'o')}, {_col(Order, 'placed_at', 'o')} DESC, {_col(Order, 'id', 'o')} DESC"
    )


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
        with connection.cursor() as cursor:
            cursor.execute(_orders_sql(len(ids)), ids)
            for customer_id, *row in cursor.fetchall():
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


def current_owner_ids(customer_id):
    """(team id, agent id or None) of the customer's owner, or None when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(_owner_sql(), [customer_id])
        return cursor.fetchone()


def last_agent_in_team(customer_id, team_id):
    """The agent who most recently owned the customer inside this team (sticky routing)."""
    with connection.cursor() as cursor:
        cursor.execute(_last_agent_sql(), [customer_id, team_id])
        row = cursor.fetchone()
    return row[0] if row else None


@functools.cache
def _owner_sql():
    return (
        f"SELECT {_col(Ownership, 'team', 'o')}, {_col(Ownership, 'agent', 'o')} FROM {_table(Ownership)} o "
        f"WHERE {_col(Ownership, 'customer', 'o')} = %s"
    )


@functools.cache
def _last_agent_sql():
    return (
        f"SELECT {_col(Handoff, 'to_agent', 'h')} FROM {_table(Handoff)} h "
        f"WHERE {_col(Handoff, 'customer', 'h')} = %s AND {_col(Handoff, 'to_team', 'h')} = %s "
        f"AND {_col(Handoff, 'to_agent', 'h')} IS NOT NULL "
        f"ORDER BY {_col(Handoff, 'created_at', 'h')} DESC, {_col(Handoff, 'id', 'h')} DESC LIMIT 1"
    )


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
    from lifecycle.models import Customer

    return Customer.objects.filter(Q(orders__isnull=False), ownership__isnull=True).distinct()
