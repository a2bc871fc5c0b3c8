"""A connected CRM for the console's screen, dashboard and API tests, built through the CRM's own
services against the in-memory CRM of the outbox tests: agents linked to HubSpot owners by email,
deliveries of the outbox, and what HubSpot says of a contact (a pull's facts)."""

from dataclasses import dataclass

from django.utils import timezone

from integrations.crm.connections import crm_connect
from integrations.crm.delivery import outbox_deliver
from integrations.crm.inbound import ContactFact, contacts_apply
from integrations.crm.base import Owner
from integrations.crm.models import CrmContact
from integrations.crm.pulls import pull_actor
from lifecycle.actors import Actor
from lifecycle.models import Ownership
from lifecycle.services.ownership import owner_reassign
from tests.factories import make_agent, make_owned_customer, make_user, team
from tests.integrations.crm.outbox_support import TOKEN, FakeCrm

TASK = Actor.task("tests")


def person(username, first, last, *, teams=("success",)):
    return make_agent(make_user(username, group="Support agent", first_name=first, last_name=last), teams=teams)


@dataclass
class Hub:
    """A HubSpot account in memory with the console connected to it, and the agents it knows."""

    crm: FakeCrm
    connection: object
    sam: object
    ann: object

    def deliver(self):
        self.connection.refresh_from_db()
        return outbox_deliver(connection=self.connection, actor=TASK, adapter=self.crm)

    def says(self, customer, *, owner=None, stage=None, at=None):
        """HubSpot's contact of `customer` names `owner` (a HubSpot owner id) and `stage`, as a pull reads it."""
        at = at or timezone.now()
        contact = CrmContact.objects.get(connection=self.connection, customer=customer)
        fact = ContactFact(contact_id=contact.contact_id, email=customer.email,
                           owner=None if owner is None else (owner, at), stage=None if stage is None else (stage, at))
        return contacts_apply(connection=self.connection, facts=[fact], actor=pull_actor(self.connection))


def hub(owners=True):
    """Sam Rivera and Ann Lee in Success, HubSpot owners 11 and 12 (unless `owners` is False), connected."""
    sam, ann = person("sam", "Sam", "Rivera"), person("ann", "Ann", "Lee")
    crm = FakeCrm()
    if owners:  # HubSpot's owners carry the person's whole name
        crm._owners += [Owner(id="11", email=sam.user.email, first_name="Sam", last_name="Rivera"),
                        Owner(id="12", email=ann.user.email, first_name="Ann", last_name="Lee")]
    connection, check = crm_connect(token=TOKEN, actor=Actor.system("tests"), adapter=crm)
    assert check.ok, check.message
    return Hub(crm, connection, sam, ann)


def sams_customer(hub, *, name="Ada Lovelace", email="ada@example.com"):
    """A paid customer of Success whom Sam owns, delivered to HubSpot (contact, owner 11, stage customer)."""
    customer = make_owned_customer(paid=True, name=name, email=email)
    hand(customer, hub.sam)
    hub.deliver()
    customer.refresh_from_db()
    return customer


def hand(customer, agent, *, reason="Account manager"):
    if Ownership.objects.filter(customer=customer, agent=agent).exists():
        return
    owner_reassign(customer=customer, team=team("success"), agent=agent, reason=reason,
                   actor=Actor.for_user(make_user(group="Manager")))
