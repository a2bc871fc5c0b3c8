"""A page of customers scored in SQL, PostgreSQL and SQLite alike: their facts (lifecycle/db/health.py),
each component's quality, points and contribution, the score, the band and the components' JSON, written
as the customers' scores with a snapshot for each whose score or band changed. Only what the caller acts
on comes back (band changes, new expansion candidates): a nightly page of 5,000 customers never travels
to Python and back.

The rules are lifecycle/services/health_score.py's (its docstring says them in words; the constants
come from there through `rules`): a component's quality is between 0 and 1, or NULL when its data is
missing; a present one is worth its weight's share of the present weights (× 100 points); the score is
the rounded sum of the contributions; a customer with no weight present has no score and no band.
On PostgreSQL the page is one statement (its writes are data-modifying CTEs, which read the scores as
they were before it); SQLite runs the same scoring three times (what comes back, the snapshots, the
scores), small as its demos are.
"""

import json
from collections import namedtuple

from django.db import connection

from lifecycle.db import health as facts
from lifecycle.db.sql import table
from lifecycle.models import HealthScore, HealthSnapshot

# What the statement needs of the policy and the rules: weights {component: number}, the band lines,
# the activity windows, the delivery window, the policy version, and the two rule constants.
Rules = namedtuple("Rules", "weights intervene_below expand_above quiet_days churn_days delivery_days version "
                            "repeat_full exceptions_zero")
# A customer whose score or band changed, or who just became an expansion candidate: its new score,
# band and (for the band changes and new candidates, which the caller acts on) components, the stored
# ones before, whether a snapshot was written and whether its band changed.
Change = namedtuple("Change", "customer_id score band components old_score old_band old_repeat snapshot band_changed")


def _num(value):
    """A number of the policy as an SQL literal (validated by the model: never text)."""
    return repr(float(value))


def _round(expr, digits):
    """SQL: `expr` rounded to `digits` decimals, halves away from zero on both databases."""
    return f"ROUND(CAST({expr} AS NUMERIC), {digits})"


def _object(*pairs):
    """SQL: a JSON object of (key, SQL expression) pairs."""
    name = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    return name + "(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"


def _bool(condition):
    if connection.vendor == "postgresql":
        return f"({condition})"
    return f"json(CASE WHEN {condition} THEN 'true' ELSE 'false' END)"


def _distinct(a, b):
    return f"{a} IS DISTINCT FROM {b}" if connection.vendor == "postgresql" else f"{a} IS NOT {b}"


def _components(rules):
    """The scoring CTEs after `facts`: quality, then points, then score, band and components."""
    w = {name: _num(rules.weights.get(name, 0) or 0) for name in (
        "repeat_orders", "on_time_delivery", "journey_on_time", "open_exceptions", "refunds", "recent_activity")}
    quiet, churn = int(rules.quiet_days), int(rules.churn_days)
    full, zero = int(rules.repeat_full), int(rules.exceptions_zero)
    quality = {
        "repeat_orders": f"CASE WHEN q.repeat_orders >= {full} THEN 1.0 ELSE q.repeat_orders / {float(full)} END",
        "on_time_delivery": "CASE WHEN q.judged > 0 THEN q.delivered_on_time * 1.0 / q.judged END",
        "journey_on_time": "CASE WHEN q.steps_due > 0 THEN q.steps_on_time * 1.0 / q.steps_due END",
        "open_exceptions": f"CASE WHEN q.open_exceptions >= {zero} THEN 0.0 ELSE 1.0 - q.open_exceptions / {float(zero)} END",
        "refunds": "CASE WHEN q.ever_paid > 0 THEN 1.0 - q.refunded * 1.0 / q.ever_paid END",
        "recent_activity": (f"CASE WHEN q.idle IS NULL THEN NULL WHEN q.idle <= {quiet} THEN 1.0 WHEN q.idle >= {churn} "
                            f"THEN 0.0 ELSE 1.0 - (q.idle - {quiet}) * 1.0 / {max(churn - quiet, 1)} END"),
    }
    details = {
        "repeat_orders": [("value", "s.repeat_orders"), ("paid_orders", "s.paid_orders")],
        "on_time_delivery": [("value", "s.delivered_on_time"), ("judged", "s.judged"),
                             ("within_days", str(int(rules.delivery_days)))],
        "journey_on_time": [("value", "s.steps_on_time"), ("late", "s.steps_late"), ("missed", "s.steps_missed"),
                            ("due", "s.steps_due")],
        "open_exceptions": [("value", "s.open_exceptions")],
        "refunds": [("value", "s.refunded"), ("paid", "s.ever_paid")],
        "recent_activity": [("value", "s.idle"), ("quiet_days", str(quiet)), ("churn_days", str(churn))],
    }
    present = " + ".join(f"CASE WHEN q_{n} IS NOT NULL THEN {w[n]} ELSE 0 END" for n in w)
    # PostgreSQL inlines a CTE read once into the next, repeating its expressions at every use (the
    # points at each of theirs): computed once each, a page scores in milliseconds instead of seconds.
    m = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    points = ", ".join(f"CASE WHEN p.present > 0 AND p.q_{n} IS NOT NULL THEN 100.0 * {w[n]} / p.present END AS p_{n}"
                       for n in w)
    total = " + ".join(f"COALESCE(s.p_{n} * s.q_{n}, 0)" for n in w)
    objects = []
    for n in w:
        missing = _object(("value", "NULL"), ("contribution", "NULL"), ("missing", _bool(f"s.q_{n} IS NULL")),
                          ("weight", w[n]))
        found = _object(*details[n], ("quality", _round(f"s.q_{n}", 3)), ("weight", w[n]),
                        ("points", _round(f"s.p_{n}", 1)), ("contribution", _round(f"s.p_{n} * s.q_{n}", 1)),
                        ("missing", _bool("1 = 0")))
        choice = f"CASE WHEN s.p_{n} IS NULL THEN {missing} ELSE {found} END"
        objects.append((n, choice if connection.vendor == "postgresql" else f"json({choice})"))
    return f""",
        base AS (
            SELECT f.*, CASE WHEN f.paid_orders > 1 THEN f.paid_orders - 1 ELSE 0 END AS repeat_orders,
                   f.steps_on_time + f.steps_late + f.steps_missed AS steps_due,
                   CASE WHEN f.days_idle < 0 THEN 0 ELSE f.days_idle END AS idle
              FROM facts f),
        quality AS {m}(
            SELECT q.*, {", ".join(f"{expr} AS q_{n}" for n, expr in quality.items())} FROM base q),
        weighed AS (SELECT q.*, {present} AS present FROM quality q),
        pointed AS {m}(SELECT p.*, {points} FROM weighed p),
        scored AS (
            SELECT s.*, CASE WHEN s.present > 0 THEN CAST({_round(total, 0)} AS INTEGER) END AS score,
                   {_object(*objects)} AS components
              FROM pointed s),
        banded AS (
            SELECT s.customer_id, s.score, s.components, s.old_score, s.old_band, s.old_repeat, s.repeat_orders,
                   CASE WHEN s.score IS NULL THEN '' WHEN s.score < {int(rules.intervene_below)} THEN 'intervene'
                        WHEN s.score <= {int(rules.expand_above)} THEN 'optimize' ELSE 'expand' END AS band
              FROM scored s)"""


def _changed():
    return f"({_distinct('b.score', 'b.old_score')} OR b.band <> b.old_band)"


NEWLY_EXPANDING = ("(b.band = 'expand' AND b.repeat_orders >= 1 "
                   "AND NOT (b.old_band = 'expand' AND COALESCE(b.old_repeat, 0) >= 1))")


def score_page(customer_ids, *, rules, now, read_at, delivered_keys, activity_kinds, ignored_kinds):
    """Score these customers and write their scores (and snapshots of the changed ones); the Changes the
    caller acts on. A stale mark is cleared unless it came after `read_at` (the moment before the facts
    were read: that mark's news may not be in them)."""
    if not customer_ids:
        return []
    with_facts, params = facts.facts_sql(customer_ids, now=now, delivery_days=rules.delivery_days,
                                         delivered_keys=delivered_keys, activity_kinds=activity_kinds,
                                         ignored_kinds=ignored_kinds)
    ctes = with_facts + _components(rules)
    h, snapshots = table(HealthScore), table(HealthSnapshot)
    upsert = (f"INSERT INTO {h} (customer_id, score, band, components, policy_version, computed_at, stale_since) "
              f"SELECT b.customer_id, b.score, b.band, b.components, {int(rules.version)}, %s, NULL FROM banded b "
              f"WHERE 1 = 1 ORDER BY b.customer_id "  # rows locked in customer order, as mark_stale does
              f"ON CONFLICT (customer_id) DO UPDATE SET score = excluded.score, band = excluded.band, "
              f"components = excluded.components, policy_version = excluded.policy_version, "
              f"computed_at = excluded.computed_at, "
              f"stale_since = CASE WHEN {h}.stale_since > %s THEN {h}.stale_since END")
    snapshot = (f"INSERT INTO {snapshots} (customer_id, score, band, components, policy_version, computed_at) "
                f"SELECT b.customer_id, b.score, b.band, b.components, {int(rules.version)}, %s FROM banded b "
                f"WHERE {_changed()}")
    acted_on = f"(b.band <> b.old_band OR {NEWLY_EXPANDING})"
    wanted = (f"SELECT b.customer_id, b.score, b.band, CASE WHEN {acted_on} THEN b.components END, b.old_score, "
              f"b.old_band, b.old_repeat, {_changed()}, b.band <> b.old_band FROM banded b "
              f"WHERE {acted_on} OR {_changed()} ORDER BY b.customer_id")
    times = [now, read_at]
    if connection.vendor == "postgresql":
        few = len(customer_ids) <= facts.JIT_FROM
        if not few:
            facts.no_jit()
        found = facts.fetch(f"{ctes}, written AS ({upsert} RETURNING 1), snapped AS ({snapshot} RETURNING 1) "
                            f"{wanted}", params + times + [now], few=few)
    else:
        found = facts.fetch(f"{ctes} {wanted}", params)
        facts.execute(f"{ctes} {snapshot}", params + [now])
        facts.execute(f"{ctes} {upsert}", params + times)
    return [Change(cid, score, band, json.loads(comp) if isinstance(comp, str) else comp, old_score, old_band,
                   old_repeat, bool(snapped), bool(band_changed))
            for cid, score, band, comp, old_score, old_band, old_repeat, snapped, band_changed in found]
