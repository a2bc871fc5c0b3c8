"""Creating customers and linking their identities across systems."""

from django.db import IntegrityError, transaction

from lifecycle.models import Customer, CustomerIdentity, IdentityKind
from lifecycle.normalise import normalize_email, normalize_identity, normalize_phone
from lifecycle.services import rows, timeline
from lifecycle.services.errors import IdentityTaken


def customer_create(*, actor, display_name="", email="", phone="", country="", identities=(), created_at=None):
    """Create a customer with its identities; `identities` holds (kind, namespace, value) triples.

    The email and phone given are linked as identities too, so they are unique across customers.
    """
    email, phone = normalize_email(email), normalize_phone(phone)
    extra = {"created_at": created_at} if created_at else {}
    with transaction.atomic():
        customer = Customer.objects.create(
            display_name=display_name.strip(), email=email, phone=phone, country=country.upper()[:2], **extra
        )
        timeline.record_customer_created(customer=customer, actor=actor)
        wanted = list(identities)
        if email:
            wanted.append((IdentityKind.EMAIL, "", email))
        for kind, namespace, value in wanted:
            customer_link_identity(customer=customer, kind=kind, namespace=namespace, value=value, actor=actor)
        if phone:
            try:
                customer_link_identity(customer=customer, kind=IdentityKind.PHONE, value=phone, actor=actor)
            except IdentityTaken:
                # Households and switchboards share phones: a shared phone is a hint for the duplicate
                # check, never a reason to refuse a customer. The phone stays on the customer record.
                pass
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
            identity = CustomerIdentity.objects.create(customer=customer, kind=kind, namespace=namespace, value=value)
    except IntegrityError:
        owner_id = CustomerIdentity.objects.filter(kind=kind, namespace=namespace, value=value).values_list(
            "customer_id", flat=True
        ).first()
        raise IdentityTaken(f"{kind} {value!r} already belongs to customer #{owner_id}") from None
    timeline.record_identity_linked(identity=identity, actor=actor)
    return identity


def customers_create_many(new, events):
    """customer_create for many at once: `new` holds (unsaved Customer, identities, actor) triples.

    The customers and their identities are inserted in one statement each; their timeline events
    are appended to `events` for the caller to insert with the rest of its batch. Email and phone
    are normalised and linked as customer_create links them; a phone another customer (or an
    earlier one of this batch) already has stays on the record but is not linked. A concurrent
    writer linking the same email or id first makes the insert fail (IntegrityError): the caller's
    transaction rolls back and its retry resolves to that customer instead.
    """
    for customer, _, _ in new:
        customer.email, customer.phone = normalize_email(customer.email), normalize_phone(customer.phone)
        customer.display_name, customer.country = customer.display_name.strip(), customer.country.upper()[:2]
    rows.insert_many(Customer, [customer for customer, _, _ in new])
    phones = {c.phone for c, _, _ in new if c.phone}
    taken = set(CustomerIdentity.objects.filter(kind=IdentityKind.PHONE, namespace="", value__in=phones)
                .values_list("value", flat=True)) if phones else set()
    identities = []
    for customer, extra, actor in new:
        events.append(timeline.customer_created_event(customer=customer, actor=actor))
        wanted = [(kind, namespace, normalize_identity(kind, value)) for kind, namespace, value in extra]
        if customer.email:
            wanted.append((IdentityKind.EMAIL, "", customer.email))
        if customer.phone and customer.phone not in taken:
            taken.add(customer.phone)
            wanted.append((IdentityKind.PHONE, "", customer.phone))
        for kind, namespace, value in wanted:
            identity = CustomerIdentity(customer=customer, kind=kind, namespace=namespace, value=value)
            identities.append(identity)
            events.append(timeline.identity_linked_event(identity=identity, actor=actor))
    rows.insert_many(CustomerIdentity, identities)
    return [customer for customer, _, _ in new]


def identities_link_many(links, events):
    """Link (customer, kind, namespace, value, actor) identities nobody has yet, in one insert;
    their events go to `events`. The caller has checked they are free (a race fails the insert)."""
    identities = []
    for customer, kind, namespace, value, actor in links:
        identity = CustomerIdentity(customer=customer, kind=kind, namespace=namespace,
                                    value=normalize_identity(kind, value))
        identities.append(identity)
        events.append(timeline.identity_linked_event(identity=identity, actor=actor))
    rows.insert_many(CustomerIdentity, identities)
