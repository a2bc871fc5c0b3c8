"""The search box on every console page: one match the user may open opens its customer screen,
several are listed, none says so. Another team's customer (found by a support agent) is listed with
its owner team and stage only, no link. The lookup is lifecycle/selectors/search.py (visibility applied).

What people search for is a customer's email, name or phone, so it stays out of addresses, where
access logs, proxies and browser history would keep it: the box posts the term, and the results
page's address carries it encrypted (?s=…). That address is an ordinary page: back and reload show
the results again without resending a form, and a bookmark or a link to a colleague opens the same
search (each sees what they may). A link made before SECRET_KEY changed no longer opens and says so.
An address with ?q= (typed, or bookmarked before) still searches; logs redact its value
(console/redaction.py).
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from console.admin.base import can_see_owners, owner_of
from console.admin.customers import STAGE_COLORS
from console.middleware import refuse, value_problem
from lifecycle.selectors.search import search_customers

HELP = _("Email, name, phone, order number, or any shop, CRM or ERP id.")
EXPIRED = _("This search's link can no longer be opened (it was made before the console's keys changed): "
            "search again.")


def _fernet():
    # Its own key, derived from SECRET_KEY: a search link must never open a stored secret's ciphertext.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"aftercare-search:{settings.SECRET_KEY}".encode())
                                           .digest()))


def results_url(query):
    return f"{reverse('console:search')}?s={_fernet().encrypt(query.encode()).decode()}"


def search(request):
    if request.method == "POST":
        query = request.POST.get("q", "")
        problem = value_problem("q", query)
        if problem:
            return refuse(request, problem)
        result = search_customers(request.user, query)
        if _opens_one(result):
            return redirect(reverse("console:customer", args=[result.customers[0].pk]))
        return HttpResponseRedirect(results_url(result.query), status=303)  # 303: the results are a GET
    if "s" in request.GET:
        try:
            query = _fernet().decrypt(request.GET["s"].encode()).decode()
        except (InvalidToken, UnicodeDecodeError):
            return _page(request, search_customers(request.user, ""), status=400, notice=EXPIRED)
        return _page(request, search_customers(request.user, query))
    result = search_customers(request.user, request.GET.get("q", ""))
    if _opens_one(result):
        return redirect(reverse("console:customer", args=[result.customers[0].pk]))
    return _page(request, result)


def _opens_one(result):
    return len(result.customers) == 1 and result.customers[0].may_open


def _page(request, result, status=200, notice=None):
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
        "notice": notice,
    }
    return TemplateResponse(request, "console/search.html", context, status=status)


search_view = admin.site.admin_view(search)
