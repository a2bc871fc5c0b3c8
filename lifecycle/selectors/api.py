"""Bulk reads behind the read API: which customers a lookup matches, and everything one page of them
shows, in a fixed number of queries whatever the page size or the customers' history.

Every read goes through the visibility selector: a customer or exception the user may not see is
never loaded, so the API cannot leak it by accident.
"""

from collections import defaultdict

from django.db.models import Count, F, Prefetch, Subquery, prefetch_related_objects

from lifecycle.models import (
    OPEN_STATUSES,
    Customer,
    CustomerIdentity,
    ExceptionCase,
    IdentityKind,
    Order,
    OrderSourceState,
    OrderState,
    Team,
    TimelineEvent,
)
from lifecycle.selectors.health import with_health
from lifecycle.selectors.visibility import customers_visible_to, exceptions_visible_to
from lifecycle.selectors.waiting import attach_trackers, waiting_for
from lifecycle.normalise import normalize_email

# A helpdesk sidebar shows a customer's recent history: a wholesale buyer with thousands of orders
# (or an order-level exception on each) must not turn one lookup into a megabyte response. The
# totals say how many there are; the customer screen shows them all.
ORDERS_PER_CUSTOMER = 20
OPEN_EXCEPTIONS_PER_CUSTOMER = 20
MANAGERS_QUEUE = "managers"

SEE_OWNERS = "lifecycle.view_ownership"
SEE_EXCEPTIONS = "lifecycle.view_exceptioncase"

# Only the columns the API shows: a lookup's cost is mostly building SQL and rows in Python, and
# both grow with the column count (select_related would otherwise bring every user column along).
# Each model's FSM state field stays loaded: django-fsm reads it when an instance is built, and a
# deferred one would cost a query per row.
_AGENT = ("id", "user__username", "user__first_name", "user__last_name")
_CUSTOMER_FIELDS = ("id", "display_name", "email", "stage", "created_at", "ownership__since",
                    "ownership__team__slug", "ownership__team__name", *(f"ownership__agent__{f}" for f in _AGENT))
# The score's columns (attach_health reads them; its trend comes as a column of the same read).
_HEALTH_FIELDS = tuple(f"health__{name}" for name in ("score", "band", "components", "policy_version", "computed_at",
                                                       "stale_since"))
_ORDER_FIELDS = ("id", "customer_id", "system", "namespace", "number", "state", "total", "currency", "placed_at")
_SOURCE_FIELDS = ("id", "order_id", "system", "raw_status", "observed_at")
_EXCEPTION_FIELDS = ("id", "customer_id", "kind", "summary", "status", "severity", "due_at", "opened_at",
                     "queue__slug", "queue__name", "order__number", "order__state",
                     *(f"assignee__{f}" for f in _AGENT))
_EXCEPTION_LIST_FIELDS = (*_EXCEPTION_FIELDS, "breached_at", "closed_at",
                          "customer__display_name", "customer__email", "customer__stage")
_EVENT_FIELDS = ("id", "customer_id", "kind", "source", "summary", "data", "occurred_at", "actor_kind", "actor_ref",
                 "order__number", "order__state")


def _lookups(*, email=None, order_number=None, external_id=None):
    """Per lookup given, a subquery of the matching customer ids; None for a value that is blank
    once trimmed (it matches nothing: customers without an email must not all match `email=" "`).

    Each is an indexed probe the page query joins as `id IN (...)`; an OR of the two email sources
    in the page query itself would make PostgreSQL scan every customer.
    """
    if email is not None:
        email = normalize_email(email)
        # The primary email and any linked email identity (a customer may carry several).
        yield (Customer.objects.filter(email=email).order_by().values_list("pk", flat=True).union(
            CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, namespace="", value=email)
            .order_by().values_list("customer_id", flat=True)
        ) if email else None)
    if order_number is not None:
        # Customers quote numbers as they see them: "#1042".
        number = order_number.strip().lstrip("#").strip()
        yield Order.objects.filter(number=number).values("customer_id") if number else None
    if external_id is not None:
        # Any system's id: WooCommerce customer id, CRM contact id, ERP code, email or phone as stored.
        value = external_id.strip()
        values = sorted({value, normalize_email(value)})
        yield CustomerIdentity.objects.filter(value__in=values).values("customer_id") if value else None


def _customers(extend):
    """The API's one read of customers: each with its owner, its health score and trend (attach_health),
    and what `extend` adds."""
    queryset = with_health(Customer.objects.select_related("ownership__team", "ownership__agent__user")
                           .only(*_CUSTOMER_FIELDS, *_HEALTH_FIELDS), lines=False)
    return queryset if extend is None else extend(queryset)


def customers_for_api(user, *, extend=None, **lookups):
    """The customers the user may see matching every lookup given (`email`, `order_number`,
    `external_id`; all of them when none is), owner joined; unordered (the paginator orders).
    `extend`: a function of the queryset adding the caller's columns (another app's, e.g. the CRM's
    ids: lifecycle knows nothing of them), read in the page's one query."""
    queryset = _customers(extend)
    for matching in _lookups(**lookups):
        if matching is None:
            return queryset.none()
        queryset = queryset.filter(pk__in=matching)
    return customers_visible_to(user, queryset)


def customer_for_api(user, customer_id, *, interpret=None, extend=None):
    """One visible customer with its details, or None when it does not exist or the user may not see it
    (`extend`: as customers_for_api's)."""
    customer = customers_visible_to(user, _customers(extend).filter(pk=customer_id)).first()
    if customer is not None:
        load_customer_details(user, [customer], interpret=interpret)
    return customer


def _open_exceptions(user):
    return exceptions_visible_to(user, ExceptionCase.objects.filter(status__in=OPEN_STATUSES))


def _latest(customers, queryset, cap):
    """The first `cap` + 1 rows of `queryset` per customer, in its order: {customer id: [rows]}.

    One query either way. For one customer (a detail, the usual lookup) a plain LIMIT on the
    (customer, date) index; for several, a ROW_NUMBER() window per customer, which costs more to
    build. The extra row tells "exactly cap" from "more than cap" without counting.
    """
    if len(customers) == 1:
        rows = list(queryset.filter(customer_id=customers[0].pk)[: cap + 1])
    else:
        related = queryset.model._meta.get_field("customer").remote_field.get_accessor_name()
        holder = f"_api_{related}"  # one per relation: prefetching skips instances that already have it
        prefetch_related_objects(customers, Prefetch(related, queryset=queryset[: cap + 1], to_attr=holder))
        rows = [row for customer in customers for row in getattr(customer, holder)]
    by_customer = defaultdict(list)
    for row in rows:
        by_customer[row.customer_id].append(row)
    return by_customer


def _counts(queryset):
    return dict(queryset.order_by().values_list("customer_id").annotate(n=Count("id")).values_list("customer_id", "n"))


def load_customer_details(user, customers, *, interpret=None):
    """Attach what the API shows to a page of customers, in place, in three to six queries.

    Sets on each customer: `recent_orders` (newest first, at most ORDERS_PER_CUSTOMER, each with
    `source_states` and `waiting`: why it waits, or None), `orders_total`, and, when the user may
    see exceptions, `recent_open_exceptions` (most urgent first, at most OPEN_EXCEPTIONS_PER_CUSTOMER)
    and `open_exceptions_total`; `show_owner` and `show_exceptions` say what the user's role may
    see. Totals cost a query only when some customer has more than its cap. `interpret` (a
    StatusInterpreter, see selectors/customers.py) tells which orders wait on an unmapped status:
    what it needs, and one query for the exceptions tracking them when some order waits and the
    user may see exceptions (lifecycle/selectors/waiting.py).
    """
    customers = list(customers)
    if not customers:
        return customers
    show_owner, show_exceptions = user.has_perm(SEE_OWNERS), user.has_perm(SEE_EXCEPTIONS)

    orders = _latest(customers, Order.objects.only(*_ORDER_FIELDS).order_by("-placed_at", "-id"),
                     ORDERS_PER_CUSTOMER)
    shown_orders = [order for rows in orders.values() for order in rows[:ORDERS_PER_CUSTOMER]]
    prefetch_related_objects(
        shown_orders, Prefetch("source_states", queryset=OrderSourceState.objects.only(*_SOURCE_FIELDS)
                               .order_by("system"))
    )
    full = [pk for pk, rows in orders.items() if len(rows) > ORDERS_PER_CUSTOMER]
    order_totals = _counts(Order.objects.filter(customer_id__in=full)) if full else {}
    _why_orders_wait(user, shown_orders, interpret)

    exceptions, exception_totals = {}, {}
    if show_exceptions:
        exceptions = _latest(
            customers,
            _open_exceptions(user).select_related("queue", "assignee__user", "order").only(*_EXCEPTION_FIELDS)
            .order_by(F("due_at").asc(nulls_last=True), "id"),
            OPEN_EXCEPTIONS_PER_CUSTOMER,
        )
        full = [pk for pk, rows in exceptions.items() if len(rows) > OPEN_EXCEPTIONS_PER_CUSTOMER]
        exception_totals = _counts(_open_exceptions(user).filter(customer_id__in=full)) if full else {}

    for customer in customers:
        customer.show_owner, customer.show_exceptions = show_owner, show_exceptions
        rows = orders.get(customer.pk, [])
        customer.recent_orders = rows[:ORDERS_PER_CUSTOMER]
        customer.orders_total = order_totals.get(customer.pk, len(rows))
        if show_exceptions:
            rows = exceptions.get(customer.pk, [])
            customer.recent_open_exceptions = rows[:OPEN_EXCEPTIONS_PER_CUSTOMER]
            customer.open_exceptions_total = exception_totals.get(customer.pk, len(rows))
    return customers


def _why_orders_wait(user, orders, interpret):
    """Set `means` on each source state (the canonical state its raw status means, None when unknown or
    unmapped) and `waiting` on each order: only its own system's status is asked about that."""
    pairs = []
    for order in orders:
        order.waiting = None
        for state in order.source_states.all():
            state.means = None
            pairs.append((order, state))
    if interpret is None or not pairs:
        return
    for (order, state), meaning in zip(pairs, interpret(pairs), strict=True):
        state.means = meaning if meaning in OrderState.values else None
        if state.system == order.system:
            order.waiting = waiting_for(order, state, meaning)
    attach_trackers(user, [order.waiting for order in orders])


def customer_timeline(customer_id, *, source=None):
    """The customer's timeline events, unordered (the paginator orders newest first); the caller checks visibility."""
    queryset = TimelineEvent.objects.filter(customer_id=customer_id).select_related("order").only(*_EVENT_FIELDS)
    if source:
        queryset = queryset.filter(source=source)
    return queryset


def exceptions_for_api(user, *, queue=None, status=None, kind=None):
    """The exceptions the user may see, filtered; `queue` is a team slug or "managers" (no team)."""
    queryset = (ExceptionCase.objects.select_related("queue", "assignee__user", "customer", "order")
                .only(*_EXCEPTION_LIST_FIELDS))
    if queue == MANAGERS_QUEUE:
        queryset = queryset.filter(queue__isnull=True)
    elif queue:
        # A scalar subquery, not a join: PostgreSQL then reads the queue index in order.
        queryset = queryset.filter(queue_id=Subquery(Team.objects.filter(slug=queue).values("id")[:1]))
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    return exceptions_visible_to(user, queryset)
