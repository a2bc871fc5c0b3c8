"""Orders and their customers as a batch of observations reads them, hand-written.

A batch of a thousand orders (an ERP import's chunk, a backfill page) read them through the ORM, and
compiling a thousand-value IN list, then building an instance per row, cost more than the database
spent: here each read is one statement, its ids bound as one array on PostgreSQL (the text, and so
the prepared plan, does not change with the batch's size), and plain rows come back; the services
build instances only where a transition needs one.
"""

import functools

from lifecycle.db import rows
from lifecycle.db.sql import for_update, in_list, json_has_key, json_text, literals, table
from lifecycle.models import DEAD_STATES, OPEN_STATUSES, PAID_STATES, Customer, ExceptionCase, ExceptionKind, Order
from lifecycle.models import OrderSourceState


def mismatch_open_sql(order_id, reporting=None):
    """SQL: whether the order (`order_id`: its id column) has an open state_mismatch that an
    observation may resolve when its system agrees again (observations._resolve_mismatches).

    `reporting` None: the order's own system, which may resolve any but one reconciliation alone
    opened (two systems disagreeing past a tolerance is reconciliation's to close: the shop
    repeating what the order is does not make the ERP agree). A system reporting on another
    system's order (the ERP) may resolve only one its own refused moves raised: its evidence names
    the system and what it wanted."""
    e = "e.evidence"
    if reporting is None:
        resolvable = f"(NOT ({json_text(e, 'source')} = 'reconciliation') OR {json_has_key(e, 'wanted')})"
    else:
        resolvable = f"{json_has_key(e, reporting)} AND {json_has_key(e, 'wanted')}"
    return (f"EXISTS (SELECT 1 FROM {table(ExceptionCase)} e WHERE e.kind = '{ExceptionKind.STATE_MISMATCH.value}' "
            f"AND e.order_id = {order_id} AND e.status IN ({literals(OPEN_STATUSES)}) AND {resolvable})")


@functools.cache
def _orders_sql(by_number, reporting, count, lock):
    columns = ", ".join(f"o.{column}" for column in rows.columns(Order).split(", "))
    match = in_list(f"o.{'number' if by_number else 'external_id'}", count)
    sql = (f"SELECT {columns}, {mismatch_open_sql('o.id', reporting if by_number else None)} "
           f"FROM {table(Order)} o WHERE o.system = %s AND o.namespace = %s AND {match} ORDER BY o.id")
    return for_update(sql, of="o") if lock else sql


def orders_read(*, system, namespace, by_number, values, reporting, lock):
    """[(Order, mismatch open)] of the `system` and `namespace` whose number (by_number) or external
    id is among `values`, in id order, locked (FOR UPDATE OF the order) unless `lock` is False.
    `reporting`: the system whose observations ask; mismatch open as mismatch_open_sql says (an order
    named by number is another system's, reported on by `reporting`)."""
    values = sorted(set(values))
    sql = _orders_sql(by_number, reporting, None if rows.binds_arrays() else len(values), lock)
    with rows.cursor() as cursor:
        cursor.execute(sql, [system, namespace, *rows.list_params(values)])
        return [(rows.from_row(Order, row[:-1]), bool(row[-1])) for row in cursor.fetchall()]


@functools.cache
def _sources_sql(count):
    return (f"SELECT order_id, system, observed_at, raw_status, total FROM {table(OrderSourceState)} "
            f"WHERE {in_list('order_id', count)}")


def source_states_read(order_ids, system):
    """{order id: (observed_at, raw_status, total)} of `system`'s stored source state of each order
    that has one. Read by order ids alone, the system picked here: with the system in the query the
    planner, whose statistics may predate an import of a system new to the table (none of its rows
    when last analysed), walks that system's whole (system, observed_at) index instead, once per
    batch, and an import of 100,000 rows spent most of its database time there. An order has a
    state per system, a few rows."""
    if not order_ids:
        return {}
    ids = sorted(order_ids)
    with rows.cursor() as cursor:
        cursor.execute(_sources_sql(None if rows.binds_arrays() else len(ids)), rows.list_params(ids))
        return {order_id: (rows.convert(OrderSourceState, "observed_at", observed_at), raw_status,
                           rows.convert(OrderSourceState, "total", total))
                for order_id, row_system, observed_at, raw_status, total in cursor.fetchall() if row_system == system}


# Each customer locked, with what a stage move reads of its other orders (those the batch does not
# touch): how many are paid and how many are not dead, each counted per customer by the orders'
# customer index. Not by joining the orders to the locked customers: for that the planner read the
# orders table whole (a hash join costs less than a thousand index probes in its model), every
# batch of an import of 100,000 rows.
FOLLOWERS = """
    WITH locked AS ({lock})
    SELECT l.id, l.stage, l.first_order_at,
           (SELECT count(*) FROM {order} o WHERE o.customer_id = l.id AND o.state IN ({paid}) AND {untouched}),
           (SELECT count(*) FROM {order} o WHERE o.customer_id = l.id AND o.state NOT IN ({dead}) AND {untouched})
      FROM locked l
     ORDER BY l.id"""


@functools.cache
def _followers_sql(customers, touched):
    """The statement for `customers` ids and `touched` order ids: their counts where the list's size
    is part of the text (elsewhere than PostgreSQL), None for an array parameter."""
    lock = for_update(f"SELECT id, stage, first_order_at FROM {table(Customer)} "
                      f"WHERE {in_list('id', customers)} ORDER BY id")
    return FOLLOWERS.format(lock=lock, order=table(Order), paid=literals(sorted(PAID_STATES)),
                            dead=literals(sorted(DEAD_STATES)), untouched=in_list("o.id", touched, negate=True))


def followers_lock(customer_ids, touched_order_ids):
    """Lock the customers (in id order) and read, for each, [stage, first_order_at, paid, live]: its
    stage and first order date, and how many of its orders other than `touched_order_ids` are paid
    and how many are not dead (orders.orders_follow replays the touched ones itself)."""
    ids, touched = sorted(customer_ids), sorted(touched_order_ids)
    sql = _followers_sql(*(None if rows.binds_arrays() else len(v) for v in (ids, touched)))
    with rows.cursor() as cursor:
        cursor.execute(sql, rows.list_params(ids) + rows.list_params(touched) * 2)
        return {pk: [stage, first_order_at, paid, live] for pk, stage, first_order_at, paid, live in cursor.fetchall()}
