"""The figures and their budgets (issue 16), from the console's own timestamps and the probe's timings.

- receipt → processed: each accepted delivery's processed_at − received_at (the receiver's insert to the
  drain's commit), over every delivery processed, duplicate, stale or ignored;
- receipt → customer owned by an agent: per customer the shop brought, from the receipt of the first
  accepted delivery of its orders to its first handoff naming an agent. A customer that never got an
  agent counts as infinitely late; one that had an agent before any delivery of its arrived (the
  backfill brought it first) is left out and counted;
- the month: from its first simulated moment (the shop starts) to the console caught up (settle.py);
- the customer screen and the API lookup: the probe's answers during the month (probe.py).
"""

import math
from dataclasses import dataclass

from django.db import connection

RECEIPT_TO_PROCESSED_P99 = 1.0  # s
RECEIPT_TO_AGENT_P99 = 2.0  # s
MONTH_MINUTES = 15.0
SCREEN_P50_MS = 150.0
API_P99_MS = 100.0
ACCEPTED = ("processed", "duplicate", "stale", "ignored")


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    budget: float
    note: str = ""
    op: str = "<="

    @property
    def passed(self):
        return self.value is not None and self.value <= self.budget

    def line(self):
        value = "n/a" if self.value is None else ("inf" if math.isinf(self.value) else f"{self.value:.2f}")
        return (f"FIGURE {self.name}: {value} {self.unit} (budget {self.op} {self.budget:g} {self.unit}) "
                f"{'PASS' if self.passed else 'FAIL'}")


def quantile(values, q):
    """The q-quantile by the nearest rank (the value at or above q of the sorted values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def processing_seconds(store_id):
    from integrations.models import InboundEvent

    return [s for (s,) in _rows(
        f"SELECT extract(epoch FROM processed_at - received_at)::float FROM {InboundEvent._meta.db_table} "
        "WHERE store_id = %s AND status = ANY(%s) AND processed_at IS NOT NULL", [store_id, list(ACCEPTED)])]


def agent_seconds(store_id, slug):
    """(seconds per customer, customers left out because an agent came before their first delivery)."""
    from integrations.models import InboundEvent
    from lifecycle.models import Handoff, Order

    rows = _rows(f"""
        WITH receipt AS (
             SELECT o.customer_id, min(e.received_at) AS at
               FROM {Order._meta.db_table} o JOIN {InboundEvent._meta.db_table} e
                 ON e.store_id = %s AND e.resource = 'order' AND e.resource_id = o.external_id
              WHERE o.system = 'woocommerce' AND o.namespace = %s AND e.status = ANY(%s)
              GROUP BY o.customer_id),
        agent AS (
             SELECT customer_id, min(created_at) AS at FROM {Handoff._meta.db_table}
              WHERE to_agent_id IS NOT NULL GROUP BY customer_id)
        SELECT extract(epoch FROM agent.at - receipt.at)::float
          FROM receipt LEFT JOIN agent USING (customer_id)""", [store_id, slug, list(ACCEPTED)])
    seconds = [math.inf if s is None else s for (s,) in rows]
    return [s for s in seconds if s >= 0], sum(1 for s in seconds if s < 0)


def compute(*, store_id, slug, month_seconds, caught_up, probe):
    processed = processing_seconds(store_id)
    owned, before = agent_seconds(store_id, slug)
    screens, lookups = [ms for _, ms in probe.samples["screen"]], [ms for _, ms in probe.samples["api"]]
    never = sum(1 for s in owned if math.isinf(s))
    return [
        Figure("webhook_receipt_to_owned_by_agent_p99", quantile(owned, 0.99), "s", RECEIPT_TO_AGENT_P99,
               f"{len(owned)} customers, {never} never owned by an agent, {before} left out (an agent before "
               "their first delivery: the backfill brought them)"),
        Figure("webhook_receipt_to_processed_p99", quantile(processed, 0.99), "s", RECEIPT_TO_PROCESSED_P99,
               f"{len(processed)} accepted deliveries; p50 {_fmt(quantile(processed, 0.5))} s"),
        Figure("month_wall_time", month_seconds / 60, "minutes", MONTH_MINUTES,
               "from the month's first moment to the console caught up" if caught_up else
               "from the month's first moment to the settling deadline: the console had NOT caught up"),
        Figure("customer_screen_p50", quantile(screens, 0.5), "ms", SCREEN_P50_MS,
               f"{len(screens)} screens over HTTP, {probe.failures['screen']} not answered 200; "
               f"p99 {_fmt(quantile(screens, 0.99))} ms"),
        Figure("api_lookup_p99", quantile(lookups, 0.99), "ms", API_P99_MS,
               f"{len(lookups)} lookups by email over HTTP, {probe.failures['api']} not answered 200; "
               f"p50 {_fmt(quantile(lookups, 0.5))} ms"),
    ]


def _fmt(value):
    return "n/a" if value is None else f"{value:.2f}"
