"""Order state changes as WooCommerce makes them (see fixtures/woocommerce/order_statuses.json).

The functions here change an order dict in place and know nothing about events or webhooks;
the store wraps them (bump date_modified, reindex, queue webhooks). `step()` is one tick of the
simulated shop: new checkouts, payments arriving, fulfilment, refunds, cancellations, trash.
"""

from datetime import timedelta

from .common import iso, money
from .people import OFFLINE_METHODS, REFUND_REASONS

PAID_STATUSES = ("processing", "completed")
# wc_get_order_statuses() without the "wc-" prefix, plus what REST accepts as filters.
STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
            "checkout-draft")
# wc_cancel_unpaid_orders only touches orders the shop's own checkout created.
CHECKOUT_VIAS = ("checkout", "store-api")


def stamp(order, field, when, offset):
    """Set `field` (site-local) and `field_gmt` from a naive UTC datetime (None clears both)."""
    order[field] = iso(when + offset) if when is not None else None
    order[field + "_gmt"] = iso(when) if when is not None else None


def set_status(order, status, when, offset):
    """WC_Order::set_status + maybe_set_date_paid/maybe_set_date_completed."""
    if order["status"] == status:
        return False
    order["status"] = status
    if status in PAID_STATUSES and order["date_paid_gmt"] is None:
        stamp(order, "date_paid", when, offset)
    if status == "completed":
        stamp(order, "date_completed", when, offset)
    return True


def refunded_cents(order) -> int:
    return sum(-_cents(r["total"]) for r in order["refunds"])


def remaining_cents(order) -> int:
    return _cents(order["total"]) - refunded_cents(order)


def add_refund(order, refund_id, cents, reason, when, offset):
    """wc_create_refund: newest refund first; refunding what is left makes the order "refunded"."""
    cents = min(cents, remaining_cents(order))
    if cents <= 0:
        return False
    order["refunds"].insert(0, {"id": refund_id, "reason": reason, "total": money(-cents)})
    if remaining_cents(order) == 0:
        set_status(order, "refunded", when, offset)
    return True


def _cents(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def plan_history(rng, order, created, now):
    """What happened to a past order, as [(when, action)], then cut at `now`.

    Shapes follow the gateways: cards settle in seconds or fail; BACS/cheque sit on-hold for
    days; COD goes straight to processing; unpaid checkout orders are cancelled after the
    60-minute hold; most paid orders complete; a few are refunded or trashed later.
    """
    method, via = order["payment_method"], order["created_via"]
    t, plan = created, []
    if method in OFFLINE_METHODS:
        plan.append((t + timedelta(seconds=rng.randint(1, 5)), "on-hold"))
        if rng.random() < 0.85:
            t += timedelta(hours=rng.uniform(6, 96))
            plan.append((t, "processing"))
        else:
            plan.append((t + timedelta(days=rng.uniform(7, 14)), "cancelled"))
            t = None
    elif method == "cod":
        t += timedelta(seconds=rng.randint(1, 5))
        plan.append((t, "processing"))
    else:
        r = rng.random()
        if r < 0.05:
            plan.append((t + timedelta(seconds=rng.randint(20, 300)), "failed"))
            if rng.random() < 0.4:
                t += timedelta(minutes=rng.uniform(10, 600))
                plan.append((t, "processing"))
            else:
                t = None
        elif r < 0.09:
            if via in CHECKOUT_VIAS:
                plan.append((t + timedelta(minutes=rng.uniform(61, 75)), "cancelled"))
            t = None
        else:
            t += timedelta(seconds=rng.randint(5, 120))
            plan.append((t, "processing"))
    if t is not None:  # paid
        r = rng.random()
        if r < 0.9:
            t += timedelta(hours=rng.uniform(12, 120))
            plan.append((t, "completed"))
            r2 = rng.random()
            if r2 < 0.05:
                plan.append((t + timedelta(days=rng.uniform(2, 20)), "refund_partial"))
            elif r2 < 0.075:
                plan.append((t + timedelta(days=rng.uniform(2, 20)), "refund_full"))
        elif r < 0.93:
            plan.append((t + timedelta(hours=rng.uniform(2, 72)), "refund_full"))
    if rng.random() < 0.01 and plan:
        plan.append((plan[-1][0] + timedelta(days=rng.uniform(1, 30)), "trash"))
    return [(when, action) for when, action in plan if when <= now]


def apply_action(store, order, action, when, rng):
    """One lifecycle action on an order dict (no events); returns False if it did not apply."""
    offset = store.utc_offset
    if action == "refund_partial":
        lines = order["line_items"]
        item = lines[rng.randrange(len(lines))]
        cents = _cents(item["total"]) + _cents(item["total_tax"])
        if cents >= remaining_cents(order):  # never let a "partial" refund empty the order
            cents = remaining_cents(order) // 2
        return add_refund(order, store.next_post_id(), cents, rng.choice(REFUND_REASONS), when, offset)
    if action == "refund_full":
        return add_refund(order, store.next_post_id(), remaining_cents(order),
                          rng.choice(REFUND_REASONS), when, offset)
    if action == "trash":
        if order["status"] == "trash":
            return False
        store.trashed_from[order["id"]] = order["status"]
        order["status"] = "trash"
        return True
    return set_status(order, action, when, offset)


def step(store, rng, new_orders=2.0, activity=0.05):
    """One tick: new checkouts, then a random share (`activity`) of open orders move on.

    Returns the number of changes. Every change goes through the store, so it bumps
    date_modified(_gmt) and queues webhooks.
    """
    changes = store.cancel_unpaid()
    for _ in range(_poisson(rng, new_orders)):
        store.create_order()
        changes += 1
    moves = {"pending": [("processing", 0.5), ("failed", 0.1)],
             "on-hold": [("processing", 0.3)],
             "failed": [("processing", 0.2), ("cancelled", 0.05)],
             "processing": [("completed", 0.4), ("refund_full", 0.01), ("cancelled", 0.01)],
             "completed": [("refund_partial", 0.02), ("refund_full", 0.01), ("trash", 0.005)],
             "trash": [("restore", 0.2)]}
    for status, options in moves.items():
        ids = store.order_ids_with_status(status)
        if not ids:
            continue
        count = min(len(ids), max(1, round(len(ids) * activity)))
        for order_id in rng.sample(ids, count):
            r, acc = rng.random(), 0.0
            for action, p in options:
                acc += p
                if r < acc:
                    changes += store.apply(order_id, action)
                    break
    return changes


def _poisson(rng, mean):
    # Knuth's method; means here are small, so the loop is short.
    if mean <= 0:
        return 0
    limit, k, p = pow(2.718281828459045, -mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
