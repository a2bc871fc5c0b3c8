"""Reconciliation's reads: which orders changed or reached a tolerance window, and, per order and
system pair, what each system's newest status means and which tolerance rules it breaks, in one
statement over every order (or the orders given), PostgreSQL and SQLite alike.

What a raw status means travels as a small VALUES table (system, namespace, lookup key, state) and is
joined on the status's lookup form (trimmed, lowercased): namespace "" holds a system's defaults, a
namespace its overrides for the orders born in it (a store's own mappings). Systems, canonical states
and rule ids are checked against their whitelists before they are written into the SQL as literals;
everything a person typed (raw statuses) is bound as a parameter.
"""

import json
from collections import namedtuple
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime

from lifecycle import statuses
from lifecycle.db.sql import col, table
from lifecycle.models import Order, OrderSourceState, System

CENT = Decimal("0.01")

# A rule as the statement needs it (checked by lifecycle/services/reconcile.py).
RuleSql = namedtuple("RuleSql", "id left right condition left_states right_match right_states absent_counts "
                                "tolerance_cents")
# One system's newest word on an order: raw status, its canonical meaning (None: unmapped), when.
Side = namedtuple("Side", "raw state observed_at received_at total")
# One order and one directed pair whose facts break at least one rule: `rule_ids` of those rules.
Match = namedtuple("Match", "order_id number order_state currency left right left_side right_side rule_ids")

SYSTEMS = frozenset(System.values)


def _literal(value, allowed):
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
    return f"'{value}'"


def _states(values):
    return ", ".join(_literal(v, statuses.CANONICAL_STATES) for v in values)


def _meaning_cte(meanings):
    """(WITH clause, params): the meanings as a table. A row whose state is "" (a namespace's
    "ignore" or a bad target) hides the default for that namespace."""
    rows = [("-", "-", "-", "")] + list(meanings)  # VALUES needs a row
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    return (f"WITH meaning (system, namespace, raw_key, state) AS (VALUES {values})",
            [v for row in rows for v in row])


def _state_of(alias, overrides):
    """What the source state `alias` means: its namespace's override (only for the order's own
    system), else its system's default; NULL when unmapped or ignored."""
    if not overrides:
        return f"NULLIF({alias}d.state, '')"
    return f"NULLIF(COALESCE({alias}n.state, {alias}d.state), '')"


def _meaning_joins(alias, overrides):
    key = f"LOWER(TRIM({col(OrderSourceState, 'raw_status', alias)}))"
    system = col(OrderSourceState, "system", alias)
    joins = (f" LEFT JOIN meaning {alias}d ON {alias}d.system = {system} AND {alias}d.namespace = ''"
             f" AND {alias}d.raw_key = {key}")
    if overrides:
        joins += (f" LEFT JOIN meaning {alias}n ON {alias}n.system = {system}"
                  f" AND {col(Order, 'system', 'o')} = {system}"
                  f" AND {alias}n.namespace = {col(Order, 'namespace', 'o')} AND {alias}n.raw_key = {key}")
    return joins


def _total_of(alias):
    """The system's own total, else the order's when the order was born in that system."""
    return (f"COALESCE({col(OrderSourceState, 'total', alias)}, CASE WHEN {col(Order, 'system', 'o')} = "
            f"{col(OrderSourceState, 'system', alias)} THEN {col(Order, 'total', 'o')} END)")


def _scope(alias, order_ids):
    """(SQL, params) keeping the orders given: one parameter however many."""
    column = col(OrderSourceState, "order", alias)
    if connection.vendor == "postgresql":
        return f" AND {column} = ANY(%s)", [list(order_ids)]
    return f" AND {column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(order_ids))]


def _condition(rule):
    if rule.condition == "amounts":
        return ("x.l_total IS NOT NULL AND x.r_total IS NOT NULL"
                f" AND ABS(ROUND((x.l_total - x.r_total) * 100)) > {int(rule.tolerance_cents)}")
    left = f"x.l_state IN ({_states(rule.left_states)})"
    if rule.right_match == "any":
        right = f"x.r_state IN ({_states(rule.right_states)})"
    elif rule.right_states:
        right = f"x.r_state IS NOT NULL AND x.r_state NOT IN ({_states(rule.right_states)})"
    else:
        right = "x.r_state IS NOT NULL"
    if rule.absent_counts:
        right = f"({right}) OR x.r_id IS NULL"
    return f"{left} AND ({right})"


def _pair_sql(left, right, rules, overrides, order_ids):
    ss, o = table(OrderSourceState), table(Order)
    flags = " || ".join(f"CASE WHEN {_condition(r)} THEN ',{int(r.id)}' ELSE '' END" for r in rules)
    pk = col(OrderSourceState, "id", "r")
    scope, params = _scope("l", order_ids) if order_ids is not None else ("", [])
    sql = f"""
    SELECT * FROM (
      SELECT x.*, ('' || {flags}) AS matched FROM (
        SELECT {col(OrderSourceState, 'order', 'l')} AS order_id, {col(Order, 'number', 'o')} AS number,
               {col(Order, 'state', 'o')} AS order_state, {col(Order, 'currency', 'o')} AS currency,
               {col(OrderSourceState, 'raw_status', 'l')} AS l_raw, {_state_of('l', overrides)} AS l_state,
               {col(OrderSourceState, 'observed_at', 'l')} AS l_observed,
               {col(OrderSourceState, 'received_at', 'l')} AS l_received, {_total_of('l')} AS l_total,
               {pk} AS r_id, {col(OrderSourceState, 'raw_status', 'r')} AS r_raw,
               {_state_of('r', overrides)} AS r_state, {col(OrderSourceState, 'observed_at', 'r')} AS r_observed,
               {col(OrderSourceState, 'received_at', 'r')} AS r_received, {_total_of('r')} AS r_total
          FROM {ss} l
          JOIN {o} o ON {col(Order, 'id', 'o')} = {col(OrderSourceState, 'order', 'l')}
          LEFT JOIN {ss} r ON {col(OrderSourceState, 'order', 'r')} = {col(OrderSourceState, 'order', 'l')}
                          AND {col(OrderSourceState, 'system', 'r')} = {_literal(right, SYSTEMS)}
          {_meaning_joins('l', overrides)} {_meaning_joins('r', overrides)}
         WHERE {col(OrderSourceState, 'system', 'l')} = {_literal(left, SYSTEMS)}{scope}
      ) x
    ) y WHERE matched <> ''"""
    return sql, params


def matches(rules, meanings, order_ids=None):
    """The (order, directed pair) facts that break at least one rule, over every order or over
    `order_ids`: one statement with a part per directed pair. [Match]."""
    if not rules or (order_ids is not None and not order_ids):
        return []
    meanings = list(meanings)
    overrides = any(namespace for _, namespace, _, _ in meanings)
    with_sql, params = _meaning_cte(meanings)
    pairs, parts = {}, []
    for rule in rules:
        pairs.setdefault((rule.left, rule.right), []).append(rule)
    for (left, right), pair_rules in pairs.items():
        sql, part_params = _pair_sql(left, right, pair_rules, overrides, order_ids)
        parts.append((left, right, sql))
        params += part_params
    union = " UNION ALL ".join(f"SELECT '{left}' AS l_system, '{right}' AS r_system, p{n}.* FROM ({sql}) p{n}"
                               for n, (left, right, sql) in enumerate(parts))
    found = []
    with connection.cursor() as cursor:
        cursor.execute(f"{with_sql} {union}", params)
        for row in cursor.fetchall():
            (left, right, order_id, number, order_state, currency, l_raw, l_state, l_observed, l_received, l_total,
             r_id, r_raw, r_state, r_observed, r_received, r_total, matched) = row
            found.append(Match(
                order_id, number, order_state, currency, left, right,
                Side(l_raw, l_state, _when(l_observed), _when(l_received), _money(l_total)),
                Side(r_raw, r_state, _when(r_observed), _when(r_received), _money(r_total)) if r_id else None,
                [int(i) for i in matched.split(",") if i],
            ))
    return found


def sides(order_ids, systems, meanings):
    """{order id: {system: Side}}: what each of `systems` says now about each order."""
    if not order_ids:
        return {}
    meanings = list(meanings)
    overrides = any(namespace for _, namespace, _, _ in meanings)
    with_sql, params = _meaning_cte(meanings)
    scope, scope_params = _scope("s", order_ids)
    in_systems = ", ".join(_literal(s, SYSTEMS) for s in systems) or "NULL"
    sql = f"""{with_sql}
        SELECT {col(OrderSourceState, 'order', 's')}, {col(OrderSourceState, 'system', 's')},
               {col(OrderSourceState, 'raw_status', 's')}, {_state_of('s', overrides)},
               {col(OrderSourceState, 'observed_at', 's')}, {col(OrderSourceState, 'received_at', 's')},
               {_total_of('s')}
          FROM {table(OrderSourceState)} s
          JOIN {table(Order)} o ON {col(Order, 'id', 'o')} = {col(OrderSourceState, 'order', 's')}
          {_meaning_joins('s', overrides)}
         WHERE {col(OrderSourceState, 'system', 's')} IN ({in_systems}){scope}"""
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params + scope_params)
        for order_id, system, raw, state, observed, received, total in cursor.fetchall():
            found.setdefault(order_id, {})[system] = Side(raw, state, _when(observed), _when(received), _money(total))
    return found


def candidates(changed_after, windows):
    """Ids of the orders to compare again: a source state received after `changed_after`, or a
    leading system's status whose tolerance window ended in a span: windows = [(system, after, upto)],
    observed_at in (after, upto]. Read off the source states' received and observed indexes."""
    ss = table(OrderSourceState)
    order, received, observed = (col(OrderSourceState, n) for n in ("order", "received_at", "observed_at"))
    system = col(OrderSourceState, "system")
    parts, params = [f"SELECT {order} FROM {ss} WHERE {received} > %s"], [_param(changed_after)]
    for name, after, upto in windows:
        parts.append(f"SELECT {order} FROM {ss} WHERE {system} = {_literal(name, SYSTEMS)}"
                     f" AND {observed} > %s AND {observed} <= %s")
        params += [_param(after), _param(upto)]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ".join(parts), params)
        return sorted(row[0] for row in cursor.fetchall())


def _param(moment):
    return connection.ops.adapt_datetimefield_value(moment)


def _when(value):
    """A moment as read back: PostgreSQL gives aware datetimes, SQLite the stored UTC text."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return parse_datetime(value).replace(tzinfo=UTC)


def _money(value):
    if value is None:
        return None
    return value.quantize(CENT) if isinstance(value, Decimal) else Decimal(str(value)).quantize(CENT)
