"""From deal messages to the deal changes the adapter sends: a pure function over what the deliverer
has read (the messages, their orders with customers, the stages to push, the deals' stages now), so
every rule of what is sent is testable without a CRM or a database.

One DealChange per order, keyed by the console's order key (deals.order_key), which HubSpot's batch
upsert takes as the deal's id (the unique property aftercare_order_key): its amount and currency,
its stage, and, the first time, its name. A deal already at a stage meaning what the order's stage
would (a salesperson moved it from "appointment scheduled" to "contract sent", both an unpaid sale,
and the order went on hold, pushed as an unpaid sale too) keeps that stage: the console moves a deal
only when what the order means to the pipeline changed.
"""

from dataclasses import dataclass, field

from integrations.crm.base import DealChange
from integrations.crm.deals import STAGE_PROPERTY, order_key
from lifecycle.models import OrderState

UNMAPPED = "unmapped"  # OutboundMessage.error_kind of a state with no deal stage


@dataclass
class Plan:
    changes: list = field(default_factory=list)  # (DealChange, [messages it carries])
    skipped: list = field(default_factory=list)  # (message, cause, why): nothing of it can be sent


def deal_name(order):
    """What a person reads in HubSpot; the pulls find the order by "#<number>" in it too."""
    return f"Order #{order.number}"


def plan_build(messages, *, orders, push, meaning, current):
    """The changes to send for `messages` (pending deal messages, newest per order).

    orders: {order id: Order with its customer}; push: {canonical state: deal stage}; meaning(stage):
    the canonical state a deal stage means (None: unmapped); current: {order id: its deal's stage now,
    "" when unknown}, absent for an order without a deal yet."""
    plan = Plan()
    for message in messages:
        order, state = orders.get(message.order_id), message.value.get("state")
        stage = push.get(state)
        if order is None:
            plan.skipped.append((message, UNMAPPED, "The order no longer exists."))
            continue
        if not stage:
            label = OrderState(state).label if state in OrderState.values else state
            plan.skipped.append((message, UNMAPPED, f"No HubSpot deal stage is mapped to the order state {label}: "
                                                    "map one in the CRM deal stage mappings."))
            continue
        properties = {"amount": str(order.total), "deal_currency_code": order.currency}
        now = current.get(order.pk)
        if now is None:
            properties["dealname"] = deal_name(order)
        if not (now and meaning(now) is not None and meaning(now) == meaning(stage)):
            properties[STAGE_PROPERTY] = stage
        email = (order.customer.email or "").strip().lower() or None
        plan.changes.append((DealChange(key=order_key(order), properties=properties, contact_email=email), [message]))
    return plan
