"""The search box on every console page: one match the user may open opens its customer screen,
several are listed, none says so. Another team's customer (found by a support agent) is listed with
its owner team and stage only, no link. The lookup is lifecycle/selectors/search.py (visibility applied)."""

from django.contrib import admin
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from console.admin.base import can_see_owners, owner_of
from console.admin.customers import STAGE_COLORS
from lifecycle.selectors.search import search_customers

HELP = _("Email, name, phone, order number, or any shop, CRM or ERP id.")


def search(request):
    query = request.GET.get("q", "")
    result = search_customers(request.user, query)
    if len(result.customers) == 1 and result.customers[0].may_open:
        return redirect(reverse("console:customer", args=[result.customers[0].pk]))
    show_owner = can_see_owners(request)
    rows = []
    for customer in result.customers:
        owner = owner_of(customer)
        if customer.may_open:
            rows.append({"customer": customer, "url": reverse("console:customer", args=[customer.pk]),
                         "stage_variant": STAGE_COLORS.get(customer.stage),
                         "owner": owner if show_owner else None})
        else:  # the owner team's name and the stage, nothing of the customer
            rows.append({"elsewhere": True, "team": owner.team.name if owner else None,
                         "stage": customer.get_stage_display(), "stage_variant": STAGE_COLORS.get(customer.stage)})
    context = {
        **admin.site.each_context(request),
        "title": _("Search customers"),
        "search_query": result.query,
        "search_help": HELP,
        "result": result,
        "rows": rows,
        "show_owner": show_owner,
    }
    return TemplateResponse(request, "console/search.html", context)


search_view = admin.site.admin_view(search)
