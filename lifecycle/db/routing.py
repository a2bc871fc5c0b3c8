"""The reads every routing decision makes: agents' loads, the stage's rules, the customers' orders,
the last agent who owned a customer in a team (lifecycle/selectors/routing.py makes values of them).

Written as SQL: the ORM took longer to build them (0.5-4 ms each on a busy machine) than PostgreSQL
took to run them, and the routing figure's budget is 5 ms for the whole decision.
"""

import functools

from django.db import connection
from django.db.models import IntegerField
from django.db.models.expressions import RawSQL

from lifecycle.db.sql import col, literals, marks, quote, table
from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, Handoff, Order, Ownership, RoutingRule, StagePolicy


@functools.cache
def _loads_sql():
    User, Teams = Agent._meta.get_field("user").related_model, Agent.teams.through
    agent_id = col(Agent, "id", "a")
    return (
        f"SELECT {agent_id}, {col(Agent, 'capacity', 'a')}, {col(Agent, 'is_available', 'a')}, "
        f"{col(User, 'is_active', 'u')}, "
        f"(SELECT COUNT(*) FROM {table(Ownership)} o WHERE {col(Ownership, 'agent', 'o')} = {agent_id}), "
        f"(SELECT COUNT(*) FROM {table(ExceptionCase)} x WHERE {col(ExceptionCase, 'assignee', 'x')} = {agent_id} "
        f"AND {col(ExceptionCase, 'status', 'x')} IN ({marks(len(OPEN_STATUSES))})) "
        f"FROM {table(Agent)} a "
        f"JOIN {table(Teams)} m ON {col(Teams, 'agent', 'm')} = {agent_id} "
        f"JOIN {table(User)} u ON {col(User, 'id', 'u')} = {col(Agent, 'user', 'a')} "
        f"WHERE {col(Teams, 'team', 'm')} = %s ORDER BY {agent_id}"
    )


def agent_loads(team_id):
    """(agent id, capacity, is_available, user is_active, customers owned, open exceptions assigned)
    for each agent of the team, in agent id order.

    One query whatever the team size: two correlated COUNTs on indexed foreign keys (a JOIN of both
    relations would multiply rows; counting per agent would be N+1).
    """
    with connection.cursor() as cursor:
        cursor.execute(_loads_sql(), [*[str(s) for s in OPEN_STATUSES], team_id])
        return cursor.fetchall()


@functools.cache
def _held_sql():
    agent_id = f"{table(Agent)}.{quote(Agent._meta.pk.column)}"  # the query of agents it is a column of
    bound = f"(SELECT MAX({col(Agent, 'capacity', 'm')}) FROM {table(Agent)} m) + 1"
    owned = (f"SELECT 1 FROM {table(Ownership)} o WHERE {col(Ownership, 'agent', 'o')} = {agent_id} LIMIT {bound}")
    assigned = (f"SELECT 1 FROM {table(ExceptionCase)} x WHERE {col(ExceptionCase, 'assignee', 'x')} = {agent_id} "
                f"AND {col(ExceptionCase, 'status', 'x')} IN ({literals(OPEN_STATUSES)}) LIMIT {bound}")
    return f"(SELECT COUNT(*) FROM ({owned}) o) + (SELECT COUNT(*) FROM ({assigned}) x)"


def held():
    """An agent's open items (customers owned + open exceptions assigned) as a column of a query of
    agents, for the lists a person picks an agent from (labelled by agent_choice_label). Each part is
    counted up to the largest capacity + 1: whether an agent has room, and how much, stay exact,
    while an agent holding thousands costs a few index entries, not a walk of them all (on 200,000
    customers, counting every agent's load in full took the customer screen 140 ms)."""
    return RawSQL(_held_sql(), (), output_field=IntegerField())


RULE_FIELDS = ["id", "team", "priority", "stage", "store", "country", "min_order_total", "max_order_total",
               "product_category", "customer_tag"]


@functools.cache
def _config_sql():
    # One row per active rule in the order they are tried, each carrying the stage's default team;
    # the LEFT JOIN from a one-row table keeps that default when no rule is active.
    rule_columns = ", ".join(col(RoutingRule, name, "r") for name in RULE_FIELDS)
    return (
        f"SELECT d.team_id, {rule_columns} FROM (SELECT (SELECT {col(StagePolicy, 'team', 'p')} "
        f"FROM {table(StagePolicy)} p WHERE {col(StagePolicy, 'stage', 'p')} = %s) AS team_id) d "
        f"LEFT JOIN {table(RoutingRule)} r ON {col(RoutingRule, 'is_active', 'r')} = %s "
        f"ORDER BY {col(RoutingRule, 'priority', 'r')}, {col(RoutingRule, 'id', 'r')}"
    )


def routing_config(stage):
    """(the stage's default team id or None, *the RULE_FIELDS of an active rule, or Nones) rows, the
    rules in the order they are tried; one row of default and Nones when no rule is active."""
    with connection.cursor() as cursor:
        cursor.execute(_config_sql(), [stage, True])
        return cursor.fetchall()


@functools.cache
def _orders_sql(count):
    return (
        f"SELECT {col(Order, 'customer', 'o')}, {col(Order, 'namespace', 'o')}, {col(Order, 'total', 'o')}, "
        f"{col(Order, 'product_categories', 'o')} "
        f"FROM {table(Order)} o WHERE {col(Order, 'customer', 'o')} IN ({marks(count)}) "
        f"ORDER BY {col(Order, 'customer', 'o')}, {col(Order, 'placed_at', 'o')} DESC, {col(Order, 'id', 'o')} DESC"
    )


def customers_orders(customer_ids):
    """(customer id, namespace, total, product_categories) of every order of the customers (ids
    sorted, not empty), per customer newest first. Values as the raw cursor hands them: JSON as text,
    totals as numbers on SQLite."""
    with connection.cursor() as cursor:
        cursor.execute(_orders_sql(len(customer_ids)), customer_ids)
        return cursor.fetchall()


@functools.cache
def _last_agent_sql():
    return (
        f"SELECT {col(Handoff, 'to_agent', 'h')} FROM {table(Handoff)} h "
        f"WHERE {col(Handoff, 'customer', 'h')} = %s AND {col(Handoff, 'to_team', 'h')} = %s "
        f"AND {col(Handoff, 'to_agent', 'h')} IS NOT NULL "
        f"ORDER BY {col(Handoff, 'created_at', 'h')} DESC, {col(Handoff, 'id', 'h')} DESC LIMIT 1"
    )


def last_agent_in_team(customer_id, team_id):
    """The agent who most recently owned the customer inside this team, or None."""
    with connection.cursor() as cursor:
        cursor.execute(_last_agent_sql(), [customer_id, team_id])
        row = cursor.fetchone()
    return row[0] if row else None
