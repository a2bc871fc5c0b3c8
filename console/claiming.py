""""Claim next", from the agent home and from the queue lists: one call, and where it lands.

It lands on what the agent now works on: the customer screen of the customer claimed (or of the
exception's customer, where the exception is shown among the customer's open ones), else the
exception's own page (a store-level problem has no customer).
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from lifecycle.actors import Actor
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.models import Customer
from lifecycle.services.assignment import customer_claim
from lifecycle.services.queues import claim_next


def claim_next_response(request, *, otherwise):
    """Claim the item due first for the user and redirect to it; on a refusal, say why and go to
    `otherwise` (the page the button was on)."""
    try:
        claimed = claim_next(actor=Actor.for_user(request.user))
    except (ServiceError, PermissionDenied) as error:
        messages.warning(request, str(error))
        return redirect(otherwise)
    if claimed.customer is not None:
        messages.success(request, format_html(_("{} is yours now: they waited for an agent of their team."),
                                              claimed.customer))
        return redirect(reverse("console:customer", args=[claimed.customer.pk]))
    exception = claimed.exception
    messages.success(request, format_html(_("You claimed “{}”."), exception))
    if exception.customer_id:
        return redirect(reverse("console:customer", args=[exception.customer_id]) + f"#exception-{exception.pk}")
    return redirect(reverse("admin:lifecycle_exceptioncase_change", args=[exception.pk]))


def claim_customer_response(request, customer_id, *, otherwise):
    """Claim one waiting customer (a row's "Claim" button) and land on their screen."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        messages.warning(request, _("That customer no longer exists."))
        return redirect(otherwise)
    try:
        customer_claim(customer=customer, actor=Actor.for_user(request.user))
    except (ServiceError, PermissionDenied) as error:
        messages.warning(request, str(error))
        return redirect(otherwise)
    messages.success(request, format_html(_("{} is yours now."), customer))
    return redirect(reverse("console:customer", args=[customer.pk]))
