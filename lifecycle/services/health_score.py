"""How a health score is made, in words and constants, and how its weak spots are said.

Six components (DOMAIN.md), each judged from its raw value as a quality between 0 and 1, or missing
when the data to judge it does not exist. A present component is worth its share of the present
weights (weight / sum of the present weights × 100 points) times its quality; the score is the sum,
rounded. A missing component leaves the score and its weight is not counted, so missing data never
reads as healthy (nor as unhealthy); a customer with no component present has no score. The bands
are the policy's: below `intervene_below` intervene, up to `expand_above` optimize, above expand.
lifecycle/db/health_score.py computes exactly this, in SQL, for a page of customers at a time.

The components, and where their facts come from (lifecycle/db/health.py reads them set-based):
- repeat_orders: paid orders (money taken and kept) beyond the first; REPEAT_FULL of them earn it all.
- on_time_delivery: of the paid orders whose outcome is known (delivered or completed, as the
  canonical state or any system's source state says, or past the policy's delivery window without),
  the share delivered within the window of payment. Orders cancelled or refunded before delivery are
  not judged. Missing until one order is judged (a shop that never reports delivery gives none).
- journey_on_time: of the first-30-days journey steps that came due (done on time, late, missed),
  the share done on time; missing without such steps (no journey, or none due yet).
- open_exceptions (negative): open problems of the customer's experience (NOT_COUNTED left out).
- refunds (negative): the share of paid orders refunded in whole or part (a chargeback reaches the
  console as a refund); missing while no order was ever paid.
- recent_activity (negative): days since the customer's last activity (ACTIVITY_KINDS): in full up to
  the policy's quiet period, fading in a straight line to nothing at the churn window.
"""

from dataclasses import dataclass

from django.utils.translation import ngettext

from lifecycle.models import EventKind, ExceptionKind

COMPONENTS = ("repeat_orders", "on_time_delivery", "journey_on_time", "open_exceptions", "refunds",
              "recent_activity")
LABELS = {
    "repeat_orders": "Repeat paid orders",
    "on_time_delivery": "On-time delivery",
    "journey_on_time": "Journey steps on time",
    "open_exceptions": "Open exceptions",
    "refunds": "Refunds and chargebacks",
    "recent_activity": "Recent activity",
}
# Two repeat paid orders earn the whole weight: a customer who came back twice has found the value.
REPEAT_FULL = 2
# Three open problems lose the whole weight: each one costs a third of it.
EXCEPTIONS_ZERO = 3
# Exceptions the open_exceptions component leaves out: `at_risk` is this score's consequence (counting
# it would push a falling score further down); a missed touchpoint is a journey step the journey
# component counts already (once is enough); the others are the console's own gaps (nobody owns or
# works the customer yet, two records, a sync) that a customer never sees.
NOT_COUNTED = (ExceptionKind.AT_RISK, ExceptionKind.MISSED_TOUCHPOINT, ExceptionKind.UNOWNED_CUSTOMER,
               ExceptionKind.UNASSIGNED_CUSTOMER, ExceptionKind.OWNERSHIP_CONFLICT, ExceptionKind.DUPLICATE_CUSTOMER,
               ExceptionKind.SYNC_FAILURE)
# What counts as the customer's activity: what the customer did, or a person or a system did with the
# customer (orders, dated when they were placed; the CRM's calls and emails, touchpoints, notes,
# invoices). The console's own bookkeeping (the record's creation, handoffs, stage moves, exceptions,
# band changes, missed steps) is left out: it follows from imports, scores and stages, and would keep
# a silent customer looking active (a shop's history imported today is not activity today).
ACTIVITY_KINDS = (EventKind.ORDER_CREATED, EventKind.ORDER_STATE_CHANGED, EventKind.CRM_ACTIVITY,
                  EventKind.ERP_INVOICE, EventKind.NOTE, EventKind.TOUCHPOINT, EventKind.JOURNEY_STEP_DONE)


@dataclass(frozen=True)
class Scored:
    """A score as the recompute wrote it: score (None: no data), band ("" without a score), components."""

    score: int | None
    band: str
    components: dict


def repeat_orders_of(components):
    """Repeat paid orders as a stored score says (0 when unknown)."""
    return (components or {}).get("repeat_orders", {}).get("value") or 0


def phrase(name, c):
    """A component's weak spot in a few words, for reasons ("2 open exceptions")."""
    value = c["value"]
    if name == "repeat_orders":
        return "no repeat order yet" if not value else ngettext(
            "%(n)d repeat order", "%(n)d repeat orders", value) % {"n": value}
    if name == "on_time_delivery":
        late = c["judged"] - value
        return ngettext("%(late)d of %(n)d order not delivered within %(d)d days",
                        "%(late)d of %(n)d orders not delivered within %(d)d days", c["judged"]) % {
            "late": late, "n": c["judged"], "d": c["within_days"]}
    if name == "journey_on_time":
        return ngettext("%(bad)d of %(n)d journey step late or missed", "%(bad)d of %(n)d journey steps late or missed",
                        c["due"]) % {"bad": c["due"] - value, "n": c["due"]}
    if name == "open_exceptions":
        return ngettext("%(n)d open exception", "%(n)d open exceptions", value) % {"n": value}
    if name == "refunds":
        return ngettext("%(n)d of %(paid)d paid order refunded", "%(n)d of %(paid)d paid orders refunded",
                        c["paid"]) % {"n": value, "paid": c["paid"]}
    return ngettext("last activity %(n)d day ago", "last activity %(n)d days ago", value) % {"n": value}


def weak_spots(components, limit=3):
    """Phrases for the components that cost the most points, worst first (at most `limit`)."""
    lost = sorted(((c["points"] - c["contribution"], name) for name, c in components.items()
                   if not c.get("missing") and c.get("contribution") is not None), reverse=True)
    return [phrase(name, components[name]) for points, name in lost[:limit] if points >= 0.5]


def low_reason(scored, policy):
    """Why a score falls in intervene, naming the evidence: "Health 34 (below 40): 2 open exceptions,
    last activity 61 days ago"."""
    spots = weak_spots(scored.components)
    return f"Health {scored.score} (below {policy.intervene_below})" + (f": {', '.join(spots)}" if spots else "")


def high_reason(scored, policy):
    repeat = repeat_orders_of(scored.components)
    return (f"Health {scored.score} (above {policy.expand_above}) with "
            + ngettext("%(n)d repeat purchase", "%(n)d repeat purchases", repeat) % {"n": repeat})
