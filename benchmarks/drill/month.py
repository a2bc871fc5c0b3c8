"""The month the sandbox shop lives through: who buys when, and what happens to each order after.

Pure and seeded: the shop process plays it, and the same seed gives the same month. Times are
seconds into the month (simulated). Shapes follow the sandbox's own gateways (its lifecycle.py):
cards settle in seconds or fail, bank transfers sit on hold for hours or days, cash on delivery is
processing at once; most paid orders complete within four days, a few are refunded. A fifth of the
buyers order a second time two to twenty days after their first order.
"""

import random
from dataclasses import dataclass

DAY = 86_400
METHODS = (("stripe", 45), ("ppcp-gateway", 25), ("bacs", 20), ("cod", 10))
REGISTERED_SHARE = 0.4  # the rest check out as guests
REPEAT_SHARE = 0.2
COMPLETED_SHARE = 0.9
QUICK_REFUND_SHARE = 0.03  # refunded before completion


@dataclass(frozen=True, order=True)
class Action:
    at: float  # seconds into the month
    seq: int  # ties keep the order they were planned in
    buyer: int
    slot: int  # the buyer's first order (0) or second (1)
    verb: str  # register, create:<method>, hold, pay, pay_complete(_held), fail, cancel, complete, refund_*
    future: bool = False  # the order's last version, sent dated in the future (a shop with a wrong clock)


def buyer_email(buyer):
    return f"buyer{buyer:06d}@drill.example"


def month_plan(*, customers, days, seed, same_second_share=0.02, future_orders=3):
    """Every action of the month, in time order."""
    rng = random.Random(f"drill-month-{seed}")
    end = days * DAY
    planned = []

    def add(at, buyer, slot, verb):
        if at < end:
            planned.append([at, len(planned), buyer, slot, verb])

    for buyer in range(customers):
        first = rng.uniform(0, end * 0.97)
        if rng.random() < REGISTERED_SHARE:
            add(max(0.0, first - 60), buyer, 0, "register")
        _order_life(rng, add, buyer, 0, first, same_second_share)
        if rng.random() < REPEAT_SHARE:
            _order_life(rng, add, buyer, 1, first + rng.uniform(2, 20) * DAY, same_second_share)
    planned.sort()
    last = {}
    for n, (_, _, buyer, slot, verb) in enumerate(planned):
        if verb != "register":
            last[(buyer, slot)] = n
    future = set(rng.sample(sorted(last.values()), min(future_orders, len(last))))
    return [Action(at, seq, buyer, slot, verb, n in future) for n, (at, seq, buyer, slot, verb) in enumerate(planned)]


def _order_life(rng, add, buyer, slot, t, same_second_share):
    method = rng.choices([m for m, _ in METHODS], [w for _, w in METHODS])[0]
    add(t, buyer, slot, f"create:{method}")
    if method == "bacs":
        add(t + 2, buyer, slot, "hold")
        if rng.random() > 0.85:
            add(t + rng.uniform(3, 7) * DAY, buyer, slot, "cancel")
            return
        t += rng.uniform(6, 72) * 3600
    elif method == "cod":
        t += 2
    else:
        r = rng.random()
        if r < 0.04:
            add(t + rng.uniform(20, 300), buyer, slot, "fail")
            if rng.random() < 0.5:
                return
            t += rng.uniform(600, 36_000)
        elif r < 0.07:  # an unpaid checkout, cancelled after the shop's 60-minute hold
            add(t + rng.uniform(3660, 4500), buyer, slot, "cancel")
            return
        else:
            t += rng.uniform(5, 60)
    if rng.random() < same_second_share:  # processing and completed in one second: two versions
        # Half of them with the second version arriving only after the ERP has spoken (shop.py holds it).
        add(t, buyer, slot, "pay_complete" if rng.random() < 0.5 else "pay_complete_held")
        return
    add(t, buyer, slot, "pay")
    r = rng.random()
    if r < COMPLETED_SHARE:
        t += rng.uniform(12, 96) * 3600
        add(t, buyer, slot, "complete")
        r2 = rng.random()
        if r2 < 0.03:
            add(t + rng.uniform(2, 10) * DAY, buyer, slot, "refund_partial")
        elif r2 < 0.05:
            add(t + rng.uniform(2, 10) * DAY, buyer, slot, "refund_full")
    elif r < COMPLETED_SHARE + QUICK_REFUND_SHARE:
        add(t + rng.uniform(2, 48) * 3600, buyer, slot, "refund_full")
