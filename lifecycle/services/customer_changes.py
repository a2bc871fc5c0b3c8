"""Who hears that customers changed: the integrations that mirror the console in another system
(the CRM's outbox, integrations/crm/outbox.py).

lifecycle never imports integrations (ARCHITECTURE.md), so an integration registers a hook at
start-up (its AppConfig.ready), as orders_created_register does for created orders. Each kind of
change is announced from the one place it passes through, once per batch, never per customer:

- new customers: customers_create (every system's customers, one or many);
- ownership: handoffs_write (routing, reassignments, claims, the set-based router of waiting customers);
- stages: stages_follow (the moves orders dictate and the ones people make);
- orders (the CRM's deals): orders_follow, which every order creation and canonical move passes through.

Hooks run inside the writer's transaction, after its rows are written: what a hook writes commits or
rolls back with the change itself, so a change and its outbound message never exist one without the
other. With no hook registered an announcement builds nothing and costs a test of a list.
"""

from dataclasses import dataclass

from django.utils import timezone


class Field:
    """What changed about a customer; one outbound message each, and newest wins per field."""

    CONTACT = "contact"  # the customer exists (created): its name and phone
    OWNER = "owner"  # its owning team and agent
    STAGE = "stage"  # its lifecycle stage
    DEAL = "deal"  # one of its orders (created, or its canonical state moved): newest wins per order


@dataclass(frozen=True, slots=True)
class CustomerChange:
    customer_id: int
    field: str
    value: dict
    # Names this one change (a handoff's id, a stage with the moment it was entered): two
    # announcements of the same change carry the same key, which the outbox stores as unique.
    key: str
    order_id: int | None = None  # deals: the order


_hooks = []


def customers_changed_register(hook):
    """`hook(changes)` hears every batch of CustomerChange; registering it again changes nothing."""
    if hook not in _hooks:
        _hooks.append(hook)


def customers_changed_unregister(hook):
    if hook in _hooks:
        _hooks.remove(hook)


def customers_changed(build, items):
    """Announce the changes `build(items)` describes to the registered hooks, once for the batch.
    Nothing is built when no hook listens or nothing changed."""
    if not (_hooks and items):
        return
    changes = build(items)
    if changes:
        for hook in _hooks:
            hook(changes)


def created_changes(customers):
    """A new customer's contact (name and phone) and its first stage."""
    changes = []
    for customer in customers:
        changes.append(CustomerChange(customer.pk, Field.CONTACT, {"name": customer.display_name,
                                                                   "phone": customer.phone},
                                      f"contact:{customer.pk}"))
        changes.append(CustomerChange(customer.pk, Field.STAGE, {"stage": customer.stage},
                                      f"stage:{customer.pk}:created"))
    return changes


def owner_changes(handoffs):
    """Each handoff's new owner, keyed by the handoff: one per ownership change."""
    return [CustomerChange(h.customer_id, Field.OWNER, {"team": h.to_team_id, "agent": h.to_agent_id},
                           f"owner:{h.pk}") for h in handoffs]


def stage_changes(customers):
    """Each customer's new stage, keyed by the stage and the moment it was entered."""
    return [CustomerChange(c.pk, Field.STAGE, {"stage": c.stage},
                           f"stage:{c.pk}:{c.stage}:{c.stage_changed_at.isoformat() if c.stage_changed_at else ''}")
            for c in customers]


def order_changes(steps):
    """Each order's state at the end of a batch (orders.Followers.steps: customer id -> [(order id,
    state, …)] in the order applied): one change per order, so the steps between (paid, shipped,
    delivered in one snapshot) are never sent. Keyed by the order, its state and the moment it was
    announced: the order's row is locked by the writer, so no two announcements of it share one."""
    now, last = timezone.now().isoformat(), {}
    for customer_id, moves in steps.items():
        for order_id, state, *_ in moves:
            last[order_id] = (customer_id, state)
    return [CustomerChange(customer_id, Field.DEAL, {"order": order_id, "state": state},
                           f"deal:{order_id}:{state}:{now}", order_id=order_id)
            for order_id, (customer_id, state) in last.items()]
