"""Query-string values the console cannot use are refused with a clear 400 before any view runs.

PostgreSQL cannot hold a NUL character in text, so a search, list filter or autocomplete term with
one was a 500 wherever it reached a query (the console search, every admin list filtered by a text
field, the admin's autocomplete). An over-long value names nothing the console stores and costs a
query term per word in the admin's search. One check here covers the console's pages and the
admin's (searches, filters, autocomplete, and any parameter a page adds later); a refusal reads like
the console's others (console/views/refusals.py) for its staff, JSON for the autocomplete's script.
A filter value that is merely wrong (no such id, a word for a number) is each list's business:
Django's filters, and console/admin/filters.py, drop it (the admin's "?e=1").
"""

import re

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from console.views import refusals

# Searches: nothing the console stores and searches is longer (an email, an identity's value: 254).
SEARCHES = ("q", "term")
SEARCH_MAX = 254
# Any other parameter carries an id, a choice, a date or a page; the longest real ones are a
# preserved filter string (the admin's _changelist_filters) or a `next` address.
VALUE_MAX = 2_000
# No column holds a larger integer (a BigAutoField's last id); SQLite fails on one (OverflowError)
# where a list filters by a related row's id. A search may be any digits: it is text.
ID_MAX = 2**63 - 1
_INTEGER = re.compile(r"[+-]?\d+")
# The read API checks its own parameters (400 naming each one, in its JSON); the webhook receiver
# reads no query string and must read nothing before its size check.
EXEMPT = ("/api/", "/webhooks/")


def input_problem(request):
    """A sentence saying what is wrong with the request's address, or None when it is usable."""
    if "\x00" in request.path_info:
        return _("The address contains a NUL character (%00), which no page of the console has.")
    for name, values in request.GET.lists():
        if "\x00" in name or len(name) > VALUE_MAX:
            return _("The address has a parameter whose name no page of the console uses.")
        for value in values:
            problem = value_problem(name, value)
            if problem:
                return problem
    return None


def value_problem(name, value):
    """What is wrong with one parameter's value, or None. Also for a search sent in a form's body
    (console/views/search.py): the address is not the only way in."""
    search = name in SEARCHES
    what = _("The search") if search else _("The value of “%s”") % name[:50]
    limit = SEARCH_MAX if search else VALUE_MAX
    if "\x00" in value:
        return _("%s contains a NUL character (%%00), which nothing stored in the console contains.") % what
    if len(value) > limit:
        return _("%(what)s is %(length)s characters long; nothing it can match is longer than %(limit)s.") % {
            "what": what, "length": f"{len(value):,}", "limit": f"{limit:,}"}
    if not search and _INTEGER.fullmatch(value) and abs(int(value)) > ID_MAX:
        return _("%s is a number larger than any the console stores.") % what
    return None


class InputLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(EXEMPT):
            problem = input_problem(request)
            if problem:
                return refuse(request, problem)
        return self.get_response(request)


def refuse(request, problem):
    if request.headers.get("x-requested-with") == "XMLHttpRequest":  # the admin's autocomplete (select2)
        return JsonResponse({"error": problem}, status=400)
    user = getattr(request, "user", None)
    if user is None or not (user.is_active and user.is_staff):
        return defaults.bad_request(request, ValueError(problem))  # Django's 400, as handler400 answers
    response = refusals.render(
        request, status=400, icon="search_off", heading=_("Not something the console can look for"),
        sentences=[problem, _("Change what you typed or chose, and try again.")],
        links=[{"label": _("This page without the search and filters"), "icon": "undo", "url": request.path}]
        if "\x00" not in request.path else [],
    )
    return response.render()  # a middleware's answer is not rendered by the handler as a view's is
