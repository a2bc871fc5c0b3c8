"""The drill's CRM side: people editing owners and stages by hand in the sandbox HubSpot, its outage, and
what the sandbox holds at the end.

Edits go to contacts the console has pushed (it creates them through its outbox). Most restate what
the console holds (an owner confirmed, a stage set again): the console reads them back and finds
agreement. A share (1% by default, at least one) names another agent as the owner: a second claim,
which the console (its policy: the console is the truth) must turn into an ownership_conflict, never
a silent change of owner. Every edit is recorded with its time, so the final comparison of the
console's pushes with the sandbox leaves out contacts a person changed by hand after the last push.
"""

import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote


@dataclass
class Edit:
    at: float
    customer_id: int
    email: str
    prop: str
    value: str
    conflicting: bool
    ok: bool


class Crm:
    def __init__(self, *, url, connection_id, seed):
        self.url, self.connection_id = url.rstrip("/"), connection_id
        self.rng = random.Random(f"drill-crm-{seed}")
        self.edits, self.outages = [], []

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def outage(self, seconds):
        """Refuse every connection for `seconds` (the sandbox ends it by itself)."""
        self._call("POST", "/_sandbox/faults", {"outage": {"seconds": seconds, "mode": "refuse"}})
        self.outages.append((time.time(), seconds))

    def edit_some(self, count, conflicting):
        """`count` edits by hand of pushed contacts, `conflicting` of them naming another agent."""
        targets = _pushed_contacts(self.connection_id, count, self.rng)
        owners = _owner_ids(self.connection_id)
        for n, (customer_id, email, agent_id, stage_value) in enumerate(targets):
            clash = n < conflicting and len(owners) > 1
            if clash:
                prop, value = "hubspot_owner_id", owners[self.rng.choice([a for a in owners if a != agent_id])]
            elif agent_id in owners and self.rng.random() < 0.5:
                prop, value = "hubspot_owner_id", owners[agent_id]
            elif stage_value:
                prop, value = "lifecyclestage", stage_value
            else:
                continue
            self.edits.append(Edit(time.time(), customer_id, email, prop, value, clash, self._edit(email, prop, value)))

    def _edit(self, email, prop, value):
        try:
            self._call("POST", f"/_sandbox/contacts/{quote(email, safe='@')}/edit", {"properties": {prop: value}})
            return True
        except (OSError, urllib.error.URLError, ValueError):
            return False  # the outage, or a contact gone: nobody could edit it

    def contacts(self):
        """Every contact in the sandbox: {email: properties}."""
        state = self._call("GET", "/_sandbox/state?type=contacts")
        return {(r["properties"].get("email") or "").lower(): r["properties"] for r in state["contacts"]}

    def deals(self):
        state = self._call("GET", "/_sandbox/state?type=deals")
        return {r["properties"].get("aftercare_order_key"): r["properties"] for r in state["deals"]}

    def edited_after(self):
        """{customer id: time of the last edit by hand that landed}."""
        last = {}
        for edit in self.edits:
            if edit.ok:
                last[edit.customer_id] = max(last.get(edit.customer_id, 0.0), edit.at)
        return last


def _pushed_contacts(connection_id, count, rng):
    """(customer id, email, agent id, the console's stage as HubSpot names it) of contacts the console
    created in the CRM, chosen at random."""
    from integrations.crm.models import CrmContact, CrmStageMapping

    ids = list(CrmContact.objects.filter(connection_id=connection_id).values_list("customer_id", flat=True))
    chosen = rng.sample(ids, min(count, len(ids)))
    stages = dict(CrmStageMapping.objects.filter(connection_id=connection_id).values_list("stage", "hubspot_stage"))
    rows = CrmContact.objects.filter(connection_id=connection_id, customer_id__in=chosen).values_list(
        "customer_id", "customer__email", "customer__ownership__agent_id", "customer__stage")
    return [(pk, email, agent, stages.get(stage, "")) for pk, email, agent, stage in rows if email]


def _owner_ids(connection_id):
    """{agent id: HubSpot owner id} of the agents linked to an owner."""
    from integrations.crm.models import CrmOwnerLink

    return dict(CrmOwnerLink.objects.filter(connection_id=connection_id).exclude(owner_id="")
                .values_list("agent_id", "owner_id"))
