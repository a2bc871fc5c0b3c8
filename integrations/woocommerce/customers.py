"""Which console customer a WooCommerce order or customer belongs to.

Registered shoppers are found by their WooCommerce id in the store, guests by billing email
(trimmed, case-insensitive). A guest's orders live on the email's customer, so when the guest later
registers, the account joins that same customer. When the id and the email point at two different
customers, the id wins for the order and a duplicate_customer exception asks a person to decide.
"""

from django.db.models import Q

from lifecycle.models import Customer, CustomerIdentity, ExceptionKind, IdentityKind
from lifecycle.services.customers import customer_create, customer_link_identity, customers_create_many
from lifecycle.services.customers import identities_link_many
from lifecycle.services.exceptions import exception_raise


def _by_identity(kind, value, namespace=""):
    if not value:
        return None
    identity = CustomerIdentity.objects.select_related("customer").filter(
        kind=kind, namespace=namespace, value=value
    ).first()
    return identity.customer if identity else None


def resolve_customer(*, store_slug, ref, actor):
    """The customer for a CustomerRef/CustomerData (woocommerce_id, email, display_name, phone, country)."""
    by_id = _by_identity(IdentityKind.WOOCOMMERCE, str(ref.woocommerce_id or ""), store_slug)
    by_email = _by_identity(IdentityKind.EMAIL, ref.email)
    if by_id and by_email and by_id.pk != by_email.pk:
        _raise_duplicate(store_slug, ref, by_id, by_email, actor)
        return by_id
    customer = by_id or by_email
    if customer is None:
        identities = [(IdentityKind.WOOCOMMERCE, store_slug, str(ref.woocommerce_id))] if ref.woocommerce_id else []
        return customer_create(actor=actor, display_name=ref.display_name, email=ref.email, phone=ref.phone,
                               country=ref.country, identities=identities)
    if ref.woocommerce_id and by_id is None:
        # The guest registered: link the account to the customer the guest orders already built.
        customer_link_identity(customer=customer, kind=IdentityKind.WOOCOMMERCE, namespace=store_slug,
                               value=str(ref.woocommerce_id), actor=actor)
    return customer


def _raise_duplicate(store_slug, ref, by_id, by_email, actor):
    low, high = sorted([by_id.pk, by_email.pk])
    exception_raise(
        kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"customers:{low}+{high}", customer=by_id, actor=actor,
        summary=f"WooCommerce customer {ref.woocommerce_id} and {ref.email} are two customer records",
        evidence={"woocommerce_id": ref.woocommerce_id, "email": ref.email, "by_id": by_id.pk,
                  "by_email": by_email.pk, "store": store_slug},
    )


def resolve_customers(*, store_slug, refs, events):
    """resolve_customer for many (ref, actor) pairs at once, in their order; the customers, aligned.

    One read of the identities involved; the customers and identities that are missing are
    inserted together (customers_create_many), and a customer created for one ref is found by the
    refs after it (a new guest's second order). Timeline events go to `events`.
    """
    woo_ids = {str(ref.woocommerce_id) for ref, _ in refs if ref.woocommerce_id}
    emails = {ref.email for ref, _ in refs if ref.email}
    known, by_pk = {}, {}  # one Customer instance per customer, so `is` tells customers apart
    for identity in CustomerIdentity.objects.select_related("customer").filter(
        Q(kind=IdentityKind.WOOCOMMERCE, namespace=store_slug, value__in=woo_ids)
        | Q(kind=IdentityKind.EMAIL, namespace="", value__in=emails)
    ):
        known[(identity.kind, identity.value)] = by_pk.setdefault(identity.customer_id, identity.customer)
    found, new, links, duplicates = [], [], [], []
    for ref, actor in refs:
        woo_key = (IdentityKind.WOOCOMMERCE, str(ref.woocommerce_id)) if ref.woocommerce_id else None
        by_id = known.get(woo_key) if woo_key else None
        by_email = known.get((IdentityKind.EMAIL, ref.email)) if ref.email else None
        if by_id and by_email and by_id is not by_email:
            duplicates.append((ref, by_id, by_email, actor))
            found.append(by_id)
            continue
        customer = by_id or by_email
        if customer is None:
            customer = Customer(display_name=ref.display_name, email=ref.email, phone=ref.phone, country=ref.country)
            new.append((customer, [(IdentityKind.WOOCOMMERCE, store_slug, woo_key[1])] if woo_key else [], actor))
            if ref.email:
                known[(IdentityKind.EMAIL, ref.email)] = customer
        elif woo_key and by_id is None:
            # The guest registered: link the account to the customer the guest orders already built.
            links.append((customer, IdentityKind.WOOCOMMERCE, store_slug, woo_key[1], actor))
        if woo_key:
            known[woo_key] = customer
        found.append(customer)
    if new:
        customers_create_many(new, events)
    if links:
        identities_link_many(links, events)
    for ref, by_id, by_email, actor in duplicates:
        _raise_duplicate(store_slug, ref, by_id, by_email, actor)
    return found
