"""What the CRM says about contacts, one path for pulls and webhooks: find each contact's customer,
let conflicts.py weigh its owner and stage against the console's, keep what the CRM said.

A pull reads whole contacts (email, owner, stage, stamped with lastmodifieddate); a webhook says one
property changed at `occurredAt`. Both become ContactFact values, a property the CRM did not speak of
being None, and go through contacts_apply, set-based over a page or a delivery.

A contact's customer is the one the console linked it to (CrmContact, written when the outbox
delivered; or a CrmContactState an earlier pull matched), else the customer with its email (the
email identity, else the one customer whose primary email it is). Contacts of nobody the console
knows are skipped: the console's customers come from orders, not from the CRM's leads. A webhook's
contact the console never matched waits for the pull, which reads its email.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from integrations.crm import conflicts, contact_changes
from integrations.crm.models import CrmContact, CrmContactState
from lifecycle.models import Customer, CustomerIdentity, IdentityKind
from lifecycle.normalise import normalize_email

OWNER = contact_changes.OWNER_PROPERTY
STAGE = contact_changes.STAGE_PROPERTY
PROPERTIES = ("email", OWNER, STAGE)  # what a pull reads of each contact
ID_LENGTH = CrmContactState._meta.get_field("contact_id").max_length
LENGTHS = {"owner": CrmContactState._meta.get_field("owner_id").max_length,
           "stage": CrmContactState._meta.get_field("stage").max_length}
EMAIL_LENGTH = 254

log = logging.getLogger(__name__)


def fits(value, limit):
    """Whether a value the CRM sent is one the console can hold: text of at most `limit` characters
    without a NUL (PostgreSQL keeps none). What does not fit is left unsaid where it enters, never a
    delivery or a page failed for a person to retry."""
    return isinstance(value, str) and len(value) <= limit and "\x00" not in value
STATE_FIELDS = ["customer", "contact_id", "owner_id", "owner_set_at", "owner_seen_at", "stage", "stage_set_at",
                "stage_seen_at", "synced_at"]


@dataclass(frozen=True)
class ContactFact:
    """What the CRM says about one contact: (value, when) per property it spoke of, else None."""

    contact_id: str
    email: str = ""
    owner: tuple[str, datetime] | None = None
    stage: tuple[str, datetime] | None = None

    def __post_init__(self):
        if not fits(self.email, EMAIL_LENGTH):
            object.__setattr__(self, "email", "")
        for name, limit in LENGTHS.items():
            said = getattr(self, name)
            if said is not None and not fits(said[0], limit):
                log.warning("HubSpot contact %s: its %s (%s characters) is no value the console can hold; "
                            "left unsaid", self.contact_id[:ID_LENGTH], name, len(str(said[0])))
                object.__setattr__(self, name, None)


def fact_from_changed(changed):
    """A pulled contact (base.Changed) as a fact: every property read, as of its modification stamp."""
    props, at = changed.properties, changed.modified_at
    return ContactFact(contact_id=str(changed.id), email=normalize_email(props.get("email") or ""),
                       owner=(props.get(OWNER) or "", at), stage=(props.get(STAGE) or "", at))


@dataclass
class Applied:
    seen: int = 0
    matched: int = 0
    claims: object = None


def contacts_apply(*, connection, facts, actor):
    """Apply what the CRM says about these contacts (in the caller's transaction). Returns Applied."""
    facts = _latest(facts)
    matched, stated = customers_for(connection, facts)
    states = {s.customer_id: s for s in CrmContactState.objects.filter(
        connection=connection, customer_id__in=set(matched.values()))}
    pushed = dict(CrmContact.objects.filter(connection=connection, customer_id__in=set(matched.values()))
                  .values_list("customer_id", "pushed"))
    items, taken = [], set()
    for fact in facts:
        customer_id = matched.get(fact.contact_id)
        if customer_id is None or customer_id in taken:
            continue  # two contacts of one customer in one batch (a CRM duplicate): the first speaks for it
        taken.add(customer_id)
        state = states.get(customer_id) or CrmContactState(connection=connection, customer_id=customer_id)
        state.contact_id, state.synced_at = fact.contact_id, timezone.now()
        items.append(conflicts.Item(customer_id, state, fact, pushed.get(customer_id) or {}))
    claims = conflicts.claims_apply(connection=connection, items=items, actor=actor) if items else None
    _states_save(connection, [item.state for item in items], stated)
    return Applied(seen=len(facts), matched=len(items), claims=claims)


def _latest(facts):
    """One fact per contact: a delivery may carry several changes of one contact; the latest word
    per property wins, and an email said by any of them is kept."""
    merged = {}
    for fact in facts:
        before = merged.get(fact.contact_id)
        if before is None:
            merged[fact.contact_id] = fact
            continue
        merged[fact.contact_id] = ContactFact(
            fact.contact_id, fact.email or before.email,
            owner=_later(before.owner, fact.owner), stage=_later(before.stage, fact.stage))
    return list(merged.values())


def _later(a, b):
    if a is None or b is None:
        return a or b
    return b if b[1] >= a[1] else a


def customers_for(connection, facts):
    """({contact id: customer id} of the contacts the console can tell the customer of, {contact id:
    customer id} of the contacts with a CrmContactState row: whose row it is)."""
    ids = {f.contact_id for f in facts}
    stated = dict(CrmContactState.objects.filter(connection=connection, contact_id__in=ids)
                  .values_list("contact_id", "customer_id"))
    found = {**stated, **dict(CrmContact.objects.filter(connection=connection, contact_id__in=ids)
                              .values_list("contact_id", "customer_id"))}
    emails = {f.email: f.contact_id for f in facts if f.email and f.contact_id not in found}
    if not emails:
        return found, stated
    by_email = dict(CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, namespace="", value__in=emails)
                    .values_list("value", "customer_id"))
    rest = set(emails) - set(by_email)
    if rest:  # the primary email, where exactly one customer has it (duplicates are a person's call)
        by_email.update(Customer.objects.filter(email__in=rest).order_by().values("email")
                        .annotate(n=Count("pk"), only=Min("pk")).filter(n=1).values_list("email", "only"))
    found.update((emails[email], customer_id) for email, customer_id in by_email.items())
    return found, stated


def customers_by_contact(connection, contact_ids):
    """{contact id: customer id} for contacts the console matched before (activities find their
    customers here: contacts are pulled first)."""
    ids = set(contact_ids)
    found = dict(CrmContactState.objects.filter(connection=connection, contact_id__in=ids)
                 .values_list("contact_id", "customer_id"))
    found.update(CrmContact.objects.filter(connection=connection, contact_id__in=ids - set(found))
                 .values_list("contact_id", "customer_id"))
    return found


def _states_save(connection, states, stated):
    """One upsert of the states. A contact that now belongs to another customer's row (`stated`: the
    CRM merged two contacts) keeps the row of the customer it spoke for last."""
    if not states:
        return
    if any(stated.get(s.contact_id, s.customer_id) != s.customer_id for s in states):
        CrmContactState.objects.filter(connection=connection, contact_id__in=[s.contact_id for s in states]).exclude(
            customer_id__in=[s.customer_id for s in states]).delete()
    for state in states:
        state.pk = None  # the upsert finds existing rows by (connection, customer), new and old alike
    CrmContactState.objects.bulk_create(states, update_conflicts=True, unique_fields=["connection", "customer"],
                                        update_fields=STATE_FIELDS[1:])
