"""From outbox messages to the contact changes the adapter sends: a pure function over what the
deliverer has read (the messages with their customers, the connection's mappings, owner links and
contacts), so every rule of what is sent can be tested without a CRM or a database.

One ContactChange per customer: the newest message of each of its fields (the deliverer has
superseded the older ones) folded into one set of properties, keyed by the customer's email, which
HubSpot's batch upsert takes as the contact's id.
"""

from dataclasses import dataclass, field

from integrations.crm.base import ContactChange
from integrations.crm.models import OutboundMessage
from lifecycle.models import Stage

F = OutboundMessage.Field
OWNER_PROPERTY = "hubspot_owner_id"
STAGE_PROPERTY = "lifecyclestage"
# Causes a message waits or is set aside for (OutboundMessage.error_kind).
NO_EMAIL = "no_email"
UNMAPPED = "unmapped"
NO_OWNER = "no_owner"


@dataclass
class Plan:
    changes: list = field(default_factory=list)  # (ContactChange, [messages it carries])
    skipped: list = field(default_factory=list)  # (message, cause, why): nothing of it can be sent
    parked: list = field(default_factory=list)  # (message, why): waits for its agent's HubSpot owner
    later: list = field(default_factory=list)  # messages left for the next round (an email already in this one)
    missing_agents: set = field(default_factory=set)  # agent ids without a HubSpot owner


def name_properties(name):
    """HubSpot's first and last name from the console's one display name."""
    first, _, last = (name or "").strip().partition(" ")
    return {"firstname": first, "lastname": last.strip()}


def plan_build(messages, *, stage_map, stage_order, owner_ids, pushed):
    """The changes to send for `messages` (pending, newest per customer and field, in id order,
    each with its customer loaded).

    stage_map: {console stage: lifecyclestage value, "" when not pushed}; stage_order: {value:
    position}; owner_ids: {agent id: HubSpot owner id, "" when the agent has none}; pushed:
    {customer id: the properties last sent}, for deciding whether a stage moves backward.
    """
    plan, by_customer = Plan(), {}
    for message in messages:
        by_customer.setdefault(message.customer_id, []).append(message)
    emails = set()
    for customer_messages in by_customer.values():
        customer = customer_messages[0].customer
        email = (customer.email or "").strip().lower()
        if not email:
            why = "The customer has no email, and HubSpot keys contacts by email."
            plan.skipped += [(m, NO_EMAIL, why) for m in customer_messages]
            continue
        if email in emails:  # a batch upsert refuses one id twice
            plan.later += customer_messages
            continue
        properties, carried, backward = {}, [], False
        for message in customer_messages:
            if message.field == F.CONTACT:
                properties |= name_properties(message.value.get("name"))
                if message.value.get("phone"):
                    properties["phone"] = message.value["phone"]
            elif message.field == F.STAGE:
                stage = message.value.get("stage")
                value = stage_map.get(stage, "")
                if not value:
                    label = Stage(stage).label if stage in Stage.values else stage
                    plan.skipped.append((message, UNMAPPED, f"The stage {label} is not mapped to a HubSpot stage."))
                    continue
                properties[STAGE_PROPERTY] = value
                before = pushed.get(customer.pk, {}).get(STAGE_PROPERTY)
                # Backward by the account's order from what was last sent, or because HubSpot
                # kept a later stage when this one was sent forward (delivery.py marks it).
                backward = bool(message.value.get("backward")) or (
                    before is not None and stage_order.get(value, 0) < stage_order.get(before, 0))
            elif message.field == F.OWNER:
                agent_id = message.value.get("agent")
                if agent_id is None:  # the team owns the customer, nobody in it yet: no CRM owner either
                    properties[OWNER_PROPERTY] = ""
                elif owner_ids.get(agent_id):
                    properties[OWNER_PROPERTY] = owner_ids[agent_id]
                else:
                    plan.missing_agents.add(agent_id)
                    plan.parked.append((message, "The agent has no HubSpot owner with their email."))
                    continue
            carried.append(message)
        if carried:
            emails.add(email)
            plan.changes.append((ContactChange(email=email, properties=properties, stage_backward=backward), carried))
    return plan
