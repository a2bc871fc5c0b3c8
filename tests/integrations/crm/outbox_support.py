"""What the outbox, delivery and connection tests share: an in-memory CRM that keeps the adapter's
contract (integrations/crm/base.py), a connected CRM, and a delivery run at a chosen moment."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.crm import outbox
from integrations.crm.base import BatchResult, ContactResult, CrmError, DealResult, ItemError, Owner, StageOption
from integrations.crm.connections import crm_connect
from integrations.crm.delivery import outbox_deliver
from integrations.crm.models import HUBSPOT_STAGES, OutboundMessage
from lifecycle.actors import Actor

TOKEN = "pat-na1-0f6d3c5e-9b1a-4a8e-8c2d-3f7b6a5e4d21"
TASK = Actor.task("tests")


class FakeCrm:
    """Contacts by email, owners and stages in memory, as the adapter contract describes them.

    `fail` holds CrmErrors the next upserts raise, one per call; `refuse` maps an email to the
    sentence HubSpot refuses it with. Like HubSpot, a lifecycle stage earlier than the contact's is
    ignored unless the change says it moves backward (the adapter clears it first)."""

    def __init__(self, owners=(), stages=None, scopes=("crm.objects.contacts.write",)):
        self.contacts, self.calls, self.fail, self.refuse = {}, [], [], {}
        self.deals, self.deal_calls = {}, []
        self._owners, self.scopes, self.check_error = list(owners), set(scopes), None
        self.stages = stages or [StageOption(value, label, n) for n, (value, label) in enumerate(HUBSPOT_STAGES)]
        self._ids = itertools.count(501)

    def check(self):
        if self.check_error:
            raise self.check_error
        return set(self.scopes)

    def owners(self):
        if self.check_error:
            raise self.check_error
        return list(self._owners)

    def add_owner(self, agent, owner_id):
        self._owners.append(Owner(id=owner_id, email=agent.user.email, first_name=agent.user.first_name))

    def lifecycle_stages(self):
        return list(self.stages)

    def deal_key_ensure(self):
        return False

    def account_time_zone(self):
        return ""

    def _order(self, value):
        return {s.value: s.order for s in self.stages}.get(value, -1)

    def upsert_contacts(self, changes):
        self.calls.append(list(changes))
        if self.fail:
            raise self.fail.pop(0)
        ok, errors = [], []
        for change in changes:
            if change.email in self.refuse:
                errors.append(ItemError(change.email, self.refuse[change.email]))
                continue
            contact = self.contacts.setdefault(change.email, {"id": str(next(self._ids)), "properties": {}})
            properties, ignored = dict(change.properties), False
            stage, before = properties.get("lifecyclestage"), contact["properties"].get("lifecyclestage")
            if stage and before and not change.stage_backward and self._order(stage) < self._order(before):
                properties.pop("lifecyclestage")
                ignored = True
            contact["properties"].update(properties)
            ok.append(ContactResult(change.email, contact["id"], dict(contact["properties"]), stage_ignored=ignored))
        return BatchResult(ok, errors)

    def upsert_deals(self, changes):
        """Deals by order key, linked to the contact of their email (an error when there is none)."""
        self.deal_calls.append(list(changes))
        if self.fail:
            raise self.fail.pop(0)
        ok, errors = [], []
        for change in changes:
            deal = self.deals.setdefault(change.key, {"id": str(next(self._ids)), "properties": {}})
            deal["properties"].update(change.properties)
            contact = self.contacts.get(change.contact_email) if change.contact_email else None
            if change.contact_email and contact is None:
                errors.append(ItemError(change.key, f"No contact has the email {change.contact_email}.",
                                        retryable=True))
                continue
            ok.append(DealResult(change.key, deal["id"], dict(deal["properties"]), contact and contact["id"]))
        return BatchResult(ok, errors)

    def sent(self, email):
        """The properties the CRM holds for this email."""
        return self.contacts[email]["properties"]


def server_error():
    return CrmError("server", "HubSpot answered 502 Bad Gateway three times; it will be tried again.")


def auth_error():
    return CrmError("auth", "HubSpot refused the access token (401): it is wrong, expired or revoked.")


@pytest.fixture
def crm(db):
    outbox.kick_reset()
    return FakeCrm()


@pytest.fixture
def connection(crm):
    connected, check = crm_connect(token=TOKEN, actor=Actor.system("tests"), adapter=crm)
    assert check.ok, check.message
    return connected


class Clock:
    """A delivery's "now": the real time shifted by hand, so retries come due without waiting."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self):
        return timezone.now() + self.offset

    def shift(self, **delta):
        self.offset += timedelta(**delta)
        return self()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def deliver(connection, crm, clock):
    """One delivery run of the connection's outbox against the fake CRM, at the clock's moment."""

    def run(**kwargs):
        connection.refresh_from_db()
        return outbox_deliver(connection=connection, actor=TASK, adapter=kwargs.pop("adapter", crm), clock=clock,
                              **kwargs)

    return run


def messages(**filters):
    return list(OutboundMessage.objects.filter(**filters).order_by("pk"))
