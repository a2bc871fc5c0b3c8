"""Which console customer a WooCommerce order or customer belongs to.

Registered shoppers are found by their WooCommerce id in the store, guests by billing email
(trimmed, case-insensitive). A guest's orders live on the email's customer, so when the guest later
registers, the account joins that same customer. When the id and the email point at two different
customers, the id wins for the order and a duplicate_customer exception asks a person to decide.
"""

from lifecycle.models import CustomerIdentity, ExceptionKind, IdentityKind
from lifecycle.services.customers import customer_create, customer_link_identity
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
        low, high = sorted([by_id.pk, by_email.pk])
        exception_raise(
            kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"customers:{low}+{high}", customer=by_id, actor=actor,
            summary=f"WooCommerce customer {ref.woocommerce_id} and {ref.email} are two customer records",
            evidence={"woocommerce_id": ref.woocommerce_id, "email": ref.email, "by_id": by_id.pk,
                      "by_email": by_email.pk, "store": store_slug},
        )
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
