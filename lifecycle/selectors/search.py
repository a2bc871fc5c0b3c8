"""The console's search box: which customers a typed value names.

Exact matches first, each an indexed lookup: any identity value (WooCommerce customer id, CRM
contact id, ERP code, email, phone), an order number, the primary email. Only when nothing matches
exactly does it fall back to a substring match on names and emails (a scan, capped). Results go
through visibility: each carries `may_open`. A support agent also finds other teams' customers, marked
`may_open=False`, of which the page shows only the owner team and the stage
(visibility.may_ask_who_owns); anyone else finds only the customers they may open.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from lifecycle.models import Customer, CustomerIdentity, Order
from lifecycle.selectors.visibility import customers_visible_to, may_ask_who_owns
from lifecycle.normalise import normalize_email, normalize_phone

SEARCH_LIMIT = 50  # a results page; more means the query is too vague to scroll through
# Fewer digits than this is more likely part of a name, an order number or an id than a phone.
PHONE_MIN_DIGITS = 6
# A one-letter substring matches half the customers: the name fallback needs at least this much.
FALLBACK_MIN_LENGTH = 2
# Order numbers shared by many customers (two stores both have #1001) are still a handful; cap the
# id lists so a pathological value cannot build a huge IN clause.
ID_LIMIT = 200


@dataclass
class SearchResult:
    query: str
    customers: list
    exact: bool  # matched an identity, an order number or an email, not only a name fragment
    truncated: bool  # more than SEARCH_LIMIT matched


def phone_candidate(query):
    """The normalised phone a query may be, or "" when it has too few digits to be one."""
    phone = normalize_phone(query)
    return phone if len(phone.lstrip("+")) >= PHONE_MIN_DIGITS else ""


def _exact_ids(query):
    values = {query}
    email = normalize_email(query) if "@" in query else ""
    phone = phone_candidate(query)
    values |= {v for v in (email, phone) if v}
    if phone.startswith("+"):
        values.add(phone[1:])  # stored without the + when it was typed without one, and vice versa
    elif phone:
        values.add(f"+{phone}")
    ids = set(CustomerIdentity.objects.filter(value__in=values).values_list("customer_id", flat=True)[:ID_LIMIT])
    number = query.lstrip("#").strip()
    if number:
        ids |= set(Order.objects.filter(number=number).values_list("customer_id", flat=True)[:ID_LIMIT])
    direct = Q(email=email) if email else Q()
    if phone:
        # Customer.phone has no index; a phone-shaped query still checks it because a phone shared by
        # two customers is an identity of only the first (customer_create keeps it on the record).
        direct |= Q(phone__in=[p for p in values if p.lstrip("+").isdigit()])
    if direct:
        ids |= set(Customer.objects.filter(direct).values_list("pk", flat=True)[:ID_LIMIT])
    return ids


def search_customers(user, query, *, limit=SEARCH_LIMIT):
    """Customers `query` names that the user may open (or, for a support agent, be told about), with
    their owners loaded for the list and `may_open` set; those they may open first.

    Exact matches first; when none of them is one the user may find, the name/email fragment search
    runs as if there had been none (so an exact match the user may not find leaves no trace).
    """
    query = (query or "").strip()
    if not query:
        return SearchResult(query, [], exact=False, truncated=False)
    ids = _exact_ids(query)
    if ids:
        customers = _visible(user, Customer.objects.filter(pk__in=ids), limit)
        if customers:
            return SearchResult(query, customers[:limit], exact=True, truncated=len(customers) > limit)
    if len(query) < FALLBACK_MIN_LENGTH:
        return SearchResult(query, [], exact=False, truncated=False)
    fragment = Customer.objects.filter(Q(display_name__icontains=query) | Q(email__icontains=query))
    customers = _visible(user, fragment, limit)
    return SearchResult(query, customers[:limit], exact=False, truncated=len(customers) > limit)


def _visible(user, candidates, limit):
    found = candidates if may_ask_who_owns(user) else customers_visible_to(user, candidates)
    may_open = Exists(customers_visible_to(user, Customer.objects.filter(pk=OuterRef("pk"))))
    found = found.annotate(may_open=may_open).select_related("ownership__team", "ownership__agent__user")
    return list(found.order_by("-may_open", "display_name", "pk")[: limit + 1])
