"""Customers: who a system's order or account belongs to, creating them and linking their identities.

A system names a customer by a CustomerRef: its own account id (none for a shop's guest), an email,
and the details to create it with. Registered customers are found by their account id in the
system's namespace, guests by email (trimmed, case-insensitive). A guest's orders live on the
email's customer, so when the guest later registers, the account joins that same customer. When the
account id and the email point at two different customers, the account wins and a
`duplicate_customer` exception asks a person to decide: merging is a decision, never a side effect.

One path for one and for many: customers_resolve takes a batch (a backfill page, a store's waiting
deliveries, an import); customer_resolve, customer_create and customer_link_identity are batches of one.
"""

from django.db import IntegrityError, transaction
from django.db.models import Q

from lifecycle.db import locks, rows
from lifecycle.models import Customer, CustomerIdentity, ExceptionKind, IdentityKind, TimelineEvent
from lifecycle.normalise import normalize_email, normalize_identity, normalize_phone
from lifecycle.services import timeline
from lifecycle.services.customer_changes import created_changes, customers_changed
from lifecycle.services.errors import IdentityTaken
from lifecycle.services.exceptions import exception_raise
from lifecycle.values import CustomerRef  # noqa: F401 (the value this service takes)


def customers_resolve(*, refs, events):
    """The customer of each (CustomerRef, actor), in order, creating the missing ones.

    One read of the identities involved; the customers and identities that are missing are
    inserted together, and a customer created for one ref is found by the refs after it (a new
    guest's second order). Timeline events go to `events`. The identities it may create are locked
    first (lifecycle/db/locks.py), so two writers resolving one new customer never both create it.
    """
    locks.lock_keys([key for ref, _ in refs for key in ref.keys()])
    accounts = {ref.account_key for ref, _ in refs if ref.account_id}
    emails = {ref.email for ref, _ in refs if ref.email}
    wanted = Q(pk__in=[])
    for kind, namespace in {(k, ns) for k, ns, _ in accounts}:
        values = [v for k, ns, v in accounts if (k, ns) == (kind, namespace)]
        wanted |= Q(kind=kind, namespace=namespace, value__in=values)
    if emails:
        wanted |= Q(kind=IdentityKind.EMAIL, namespace="", value__in=emails)
    known, by_pk = {}, {}  # one Customer instance per customer, so `is` tells customers apart
    for identity in CustomerIdentity.objects.select_related("customer").filter(wanted):
        known[(identity.kind, identity.namespace, identity.value)] = by_pk.setdefault(identity.customer_id,
                                                                                      identity.customer)
    found, new, links, duplicates = [], [], [], []
    for ref, actor in refs:
        account = ref.account_key
        email = (IdentityKind.EMAIL, "", ref.email) if ref.email else None
        by_id = known.get(account) if account else None
        by_email = known.get(email) if email else None
        if by_id and by_email and by_id is not by_email:
            duplicates.append((ref, by_id, by_email, actor))
            found.append(by_id)
            continue
        customer = by_id or by_email
        if customer is None:
            customer = Customer(display_name=ref.display_name, email=ref.email, phone=ref.phone, country=ref.country)
            new.append((customer, [account] if account else [], actor))
            if email:
                known[email] = customer
        elif account and by_id is None:
            # The guest registered: link the account to the customer the guest orders already built.
            links.append((customer, *account, actor))
        if account:
            known[account] = customer
        found.append(customer)
    if new:
        customers_create(new, events)
    if links:
        identities_link(links, events)
    for ref, by_id, by_email, actor in duplicates:
        _raise_duplicate(ref, by_id, by_email, actor)
    return found


def customer_resolve(*, ref, actor):
    """customers_resolve for one reference (an account created or updated in a system)."""
    with transaction.atomic():
        events = []
        [customer] = customers_resolve(refs=[(ref, actor)], events=events)
        rows.insert_many(TimelineEvent, events)
    return customer


def _raise_duplicate(ref, by_id, by_email, actor):
    low, high = sorted([by_id.pk, by_email.pk])
    exception_raise(
        kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"customers:{low}+{high}", customer=by_id, actor=actor,
        summary=f"{IdentityKind(ref.kind).label} {ref.account_id} and {ref.email} are two customer records",
        evidence={"account": {"kind": ref.kind, "namespace": ref.namespace, "id": ref.account_id},
                  f"{ref.kind}_id": ref.account_id, "email": ref.email, "by_id": by_id.pk,
                  "by_email": by_email.pk, "store": ref.namespace},
    )


def customers_create(new, events):
    """Insert customers: `new` holds (unsaved Customer, identities, actor) triples, identities as
    (kind, namespace, value). The customers and their identities are inserted in one statement
    each; their timeline events are appended to `events`. The email and phone are linked as
    identities too; a phone another customer (or an earlier one of the batch) has already stays on
    the record but is not linked: households and switchboards share phones, so a shared phone is a
    hint for the duplicate check, never a reason to refuse a customer. A concurrent writer linking
    the same email or id first makes the insert fail (IntegrityError): the caller's transaction
    rolls back and its retry resolves to that customer instead.
    """
    for customer, _, _ in new:
        customer.email, customer.phone = normalize_email(customer.email), normalize_phone(customer.phone)
        customer.display_name, customer.country = customer.display_name.strip(), customer.country.upper()[:2]
    rows.insert_many(Customer, [customer for customer, _, _ in new])
    phones = {c.phone for c, _, _ in new if c.phone}
    taken = set(CustomerIdentity.objects.filter(kind=IdentityKind.PHONE, namespace="", value__in=phones)
                .values_list("value", flat=True)) if phones else set()
    links = []
    for customer, extra, actor in new:
        events.append(timeline.customer_created_event(customer=customer, actor=actor))
        wanted = list(extra)
        if customer.email:
            wanted.append((IdentityKind.EMAIL, "", customer.email))
        if customer.phone and customer.phone not in taken:
            taken.add(customer.phone)
            wanted.append((IdentityKind.PHONE, "", customer.phone))
        links += [(customer, kind, namespace, value, actor) for kind, namespace, value in wanted]
    identities_link(links, events)
    created = [customer for customer, _, _ in new]
    customers_changed(created_changes, created)  # the CRM's outbox, in this transaction
    return created


def identities_link(links, events):
    """Link (customer, kind, namespace, value, actor) identities nobody has yet, in one insert;
    their events go to `events`. The caller has checked they are free (a race fails the insert)."""
    identities = []
    for customer, kind, namespace, value, actor in links:
        identity = CustomerIdentity(customer=customer, kind=kind, namespace=namespace,
                                    value=normalize_identity(kind, value))
        identities.append(identity)
        events.append(timeline.identity_linked_event(identity=identity, actor=actor))
    rows.insert_many(CustomerIdentity, identities)
    return identities


def customer_create(*, actor, display_name="", email="", phone="", country="", identities=(), created_at=None):
    """Create one customer with its identities ((kind, namespace, value) triples), its email and
    phone linked as in customers_create. An identity another customer has raises IdentityTaken."""
    customer = Customer(display_name=display_name, email=email, phone=phone, country=country,
                        **({"created_at": created_at} if created_at else {}))
    identities = [(kind, namespace, normalize_identity(kind, value)) for kind, namespace, value in identities]
    with transaction.atomic():
        _refuse_taken([*identities, *([(IdentityKind.EMAIL, "", normalize_email(email))] if email else [])])
        events = []
        customers_create([(customer, identities, actor)], events)
        rows.insert_many(TimelineEvent, events)
    return customer


def customer_link_identity(*, customer, kind, value, actor, namespace=""):
    """Link one identity; linking one the customer already has is a no-op (returns it unchanged).

    An identity that belongs to another customer raises IdentityTaken: merging two customers is a
    decision (a duplicate_customer exception), never a side effect.
    """
    value = normalize_identity(kind, value)
    existing = CustomerIdentity.objects.filter(kind=kind, namespace=namespace, value=value).first()
    if existing:
        if existing.customer_id != customer.pk:
            raise IdentityTaken(f"{kind} {value!r} already belongs to customer #{existing.customer_id}")
        return existing
    try:
        with transaction.atomic():
            events = []
            [identity] = identities_link([(customer, kind, namespace, value, actor)], events)
            rows.insert_many(TimelineEvent, events)
    except IntegrityError:
        _refuse_taken([(kind, namespace, value)])
        raise
    return identity


def _refuse_taken(identities):
    """IdentityTaken when another customer has one of these (kind, namespace, value) identities."""
    wanted = Q(pk__in=[])
    for kind, namespace, value in identities:
        wanted |= Q(kind=kind, namespace=namespace, value=value)
    taken = CustomerIdentity.objects.filter(wanted).values_list("kind", "value", "customer_id").first()
    if taken:
        kind, value, owner_id = taken
        raise IdentityTaken(f"{kind} {value!r} already belongs to customer #{owner_id}")
