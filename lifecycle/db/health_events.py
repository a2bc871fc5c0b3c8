"""The health follower's and the churn sweep's reads (PostgreSQL and SQLite alike): the timeline events
since the watermark or in its gaps, the critical exceptions past their SLA of some customers, and the
customers the churn window has passed."""

from lifecycle.db.health import PAID_MOMENT, WAS_PAID, fetch, json_text, when
from lifecycle.db.sql import literals, marks, table
from lifecycle.models import OPEN_STATUSES, Customer, ExceptionCase, ExceptionKind, Order, TimelineEvent


def _events(where, params, limit=""):
    t = table(TimelineEvent)
    return fetch(f"SELECT t.id, t.customer_id, t.kind, t.order_id, {json_text('t.data', 'to')} FROM {t} t "
                  f"WHERE {where} ORDER BY t.id{limit}", params)


def events_after(last_id, limit):
    """The first `limit` timeline events with an id above `last_id`, by id: (id, customer id, kind,
    order id, the state an order moved to or None)."""
    return _events("t.id > %s", [last_id, limit], " LIMIT %s")


def events_in(ranges):
    """The timeline events whose ids fall in the [first, last] `ranges` (ids read again), by id."""
    if not ranges:
        return []
    return _events(" OR ".join(["t.id BETWEEN %s AND %s"] * len(ranges)), [v for pair in ranges for v in pair])


def last_event_id():
    rows = fetch(f"SELECT MAX(id) FROM {table(TimelineEvent)}", [])
    return rows[0][0] or 0


def critical_past_due(customer_ids, now, severity):
    """{customer id: (kind, summary, due at)} of the most overdue open exception of at least
    `severity` past its due time, for the customers given (`at_risk` itself left out)."""
    if not customer_ids:
        return {}
    e = table(ExceptionCase)
    rows = fetch(
        f"SELECT customer_id, kind, summary, due_at FROM {e} WHERE customer_id IN ({marks(len(customer_ids))}) "
        f"AND status IN ({literals(OPEN_STATUSES)}) AND severity >= %s AND due_at < %s "
        f"AND kind <> '{ExceptionKind.AT_RISK}' ORDER BY customer_id, due_at DESC",
        [*customer_ids, severity, now])
    return {cid: (kind, summary, when(due)) for cid, kind, summary, due in rows}


def churn_candidates(*, cutoff, stages, activity_kinds, after_id, limit):
    """Customers in `stages` (by id after `after_id`, at most `limit`) with no order paid and no
    activity since `cutoff`: (id, last paid at, last activity at). Reads the customers by stage, each
    one's newest paid order and newest activity by the indexes led by the customer."""
    c, o, t = table(Customer), table(Order), table(TimelineEvent)
    sql = f"""
        SELECT x.id, x.last_paid, x.last_activity FROM (
            SELECT c.id,
                   (SELECT MAX({PAID_MOMENT}) FROM {o} o WHERE o.customer_id = c.id AND {WAS_PAID}) AS last_paid,
                   (SELECT t.occurred_at FROM {t} t WHERE t.customer_id = c.id AND t.kind IN ({literals(activity_kinds)})
                     ORDER BY t.occurred_at DESC LIMIT 1) AS last_activity
              FROM {c} c WHERE c.stage IN ({literals(stages)}) AND c.id > %s) x
         WHERE (x.last_paid IS NULL OR x.last_paid < %s) AND (x.last_activity IS NULL OR x.last_activity < %s)
         ORDER BY x.id LIMIT %s"""
    return [(cid, when(paid), when(active)) for cid, paid, active in fetch(sql, [after_id, cutoff, cutoff, limit])]
