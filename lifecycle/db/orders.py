"""Orders and their customers as a batch of observations reads them, hand-written.

A batch of a thousand orders (an ERP import's chunk, a backfill page) read them through the ORM, and
compiling a thousand-value IN list, then building an instance per row, cost more than the database
spent: here each read is one statement, its ids bound as one array on PostgreSQL (the text, and so
the prepared plan, does not change with the batch's size), and plain rows come back; the services
build instances only where a transition needs one.
"""

import functools

from lifecycle.db import rows
from lifecycle.db.sql import for_update, in_list, literals, table
from lifecycle.models import DEAD_STATES, PAID_STATES, Customer, Order

# Each customer locked, with what a stage move reads of its other orders (those the batch does not
# touch): how many are paid and how many are not dead, found by the orders' customer index.
FOLLOWERS = """
    WITH locked AS ({lock})
    SELECT l.id, l.stage, l.first_order_at,
           count(CASE WHEN o.state IN ({paid}) THEN 1 END), count(CASE WHEN o.state NOT IN ({dead}) THEN 1 END)
      FROM locked l LEFT JOIN {order} o ON o.customer_id = l.id AND {untouched}
     GROUP BY l.id, l.stage, l.first_order_at
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
        cursor.execute(sql, rows.list_params(ids) + rows.list_params(touched))
        return {pk: [stage, first_order_at, paid, live] for pk, stage, first_order_at, paid, live in cursor.fetchall()}
