"""Disagreements on the customer screen are owned, not only coloured (issue 12, item 4).

An order row is highlighted only when an open exception owns its disagreement (the order's
state_mismatch, or the unmapped_status that tracks the status it waits on), named with its queue and
assignee and linked for those who may open it; a disagreement nobody owns is said without highlight,
with what became of the last exception that did. The ERP and CRM columns say in sentences what those
systems sent, never "not connected yet" beside their events. The orders section costs a fixed number
of queries whatever the number of orders and exceptions.
"""

import datetime
import html as html_lib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags

from integrations.stores import store_connect
from integrations.woocommerce.intake import Item, orders_apply
from integrations.woocommerce.status_mappings import status_mapping_set
from lifecycle.actors import Actor
from lifecycle.models import (
    EventKind,
    EventSource,
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Order,
    Ownership,
    System,
    TimelineEvent,
)
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import exception_assign, exception_close
from lifecycle.statuses import unmapped_subject
from tests.console.test_customer_screen import SCREEN_MAX_QUERIES
from tests.factories import SYSTEM, make_agent, make_order, make_owned_customer, make_source_state, make_user
from tests.integrations.wc_fixtures import load

pytestmark = pytest.mark.django_db
SHOP = Actor.system("tests-shop")


def screen(customer):
    return reverse("console:customer", args=[customer.pk])


def orders_of(response):
    return next(s["data"] for s in response.context["sections"] if s["key"] == "orders")


def row_of(response, order):
    return next(row for row in orders_of(response).rows if row.order.pk == order.pk)


def row_html(response, order):
    page = response.content.decode()
    start = page.index(f">#{order.number}</a>")
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


def words(fragment):
    """The text people read: tags and icons (Material Symbols ligatures) left out."""
    fragment = re.sub(r'<span class="material-symbols-outlined[^"]*">[^<]*</span>', " ", fragment)
    return " ".join(html_lib.unescape(strip_tags(fragment)).split())


def exception_href(exception):
    return f'href="{reverse("admin:lifecycle_exceptioncase_change", args=[exception.pk])}"'


def absolute(moment):
    """A moment as pages write it beyond a week (the when filter: "23 Mar 2017, 10:02")."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck_test",
                         consumer_secret="cs_test", webhook_secret="whsec", actor=SYSTEM)


@pytest.fixture
def shop(store):
    """The shop reports WooCommerce's published order 727 (guest John Doe) with `changes`, a minute later
    each time, through the intake the webhooks use."""
    payload = load("order_retrieve_response.json")
    clock = iter(range(1, 100))

    def send(**changes):
        modified = f"2017-03-23T10:{next(clock):02d}:00"
        [outcome] = orders_apply(store=store, items=[Item({**payload, "date_modified_gmt": modified, **changes},
                                                          SHOP)])
        return Order.objects.get(external_id=str(payload["id"]))

    return send


def refused_by_the_graph(shop):
    """The shop cancels the order, then says it completed it: the state graph refuses the move, the
    order stays cancelled and its state_mismatch opens (lifecycle.services.observations)."""
    shop(status="cancelled")
    order = shop(status="completed")
    assert order.state == "cancelled"
    return order, ExceptionCase.objects.get(kind=ExceptionKind.STATE_MISMATCH, order=order)


# --- owned: highlighted, named, linked ---------------------------------------------------------------
def test_a_mapping_the_graph_refuses_for_an_order_opens_its_state_mismatch(client_for, manager, shop, store):
    # Given an order the shop placed unpaid, then moved to a plugin status nobody mapped: it waits,
    # owned by the store's unmapped_status exception
    shop(status="pending")
    order = shop(status="shipped")
    tracker = ExceptionCase.objects.get(kind=ExceptionKind.UNMAPPED_STATUS)
    response = client_for(manager).get(screen(order.customer))
    row = row_of(response, order)
    assert (row.flagged, row.waiting.exception.pk, row.mismatch) == (True, tracker.pk, None)

    # When a manager maps "shipped" to shipped, a move the graph forbids from pending payment
    moved = status_mapping_set(store=store, raw_status="shipped", canonical="shipped", actor=Actor.for_user(manager))

    # Then the order keeps its state and the disagreement is owned by its state_mismatch, in the owner team's queue
    order.refresh_from_db()
    tracker.refresh_from_db()
    assert (moved, order.state, tracker.status) == (0, "pending_payment", ExceptionStatus.RESOLVED)
    mismatch = ExceptionCase.objects.get(kind=ExceptionKind.STATE_MISMATCH)
    owner = Ownership.objects.select_related("team").get(customer=order.customer).team
    assert (mismatch.order_id, mismatch.customer_id, mismatch.queue_id, mismatch.status) == (
        order.pk, order.customer_id, owner.pk, ExceptionStatus.OPEN)
    assert mismatch.evidence == {"woocommerce": "shipped", "canonical": "pending_payment", "wanted": "shipped"}

    # and the row is highlighted, saying how the systems disagree and which exception owns it, linked
    response = client_for(manager).get(screen(order.customer))
    row = row_of(response, order)
    assert (row.flagged, row.waiting, row.mismatch.pk) == (True, None, mismatch.pk)
    assert row.disagreements == ["WooCommerce says Shipped, canonical is Pending payment"]
    html = row_html(response, order)
    assert 'data-disagrees="1"' in html and html.startswith("<tr class=\"bg-red-50")
    assert exception_href(mismatch) in html
    text = words(html)
    assert "WooCommerce says Shipped, canonical is Pending payment" in text
    assert f"The exception “State mismatch” owns it: {owner.name} queue (due in " in text
    assert text.split(f"{owner.name} queue (", 1)[1].split(")", 1)[1].startswith(", nobody assigned yet.")


def test_a_red_row_names_the_assignee_and_links_only_for_those_who_may_open_it(client_for, manager, shop):
    # Given an order whose state_mismatch sits in its owner team's queue, assigned to Amira
    order, mismatch = refused_by_the_graph(shop)
    owner = Ownership.objects.select_related("team").get(customer=order.customer).team
    amira = make_agent(make_user("amira", group="Support agent", first_name="Amira", last_name="Khan"),
                       teams=[owner.slug])
    exception_assign(exception=mismatch, agent=amira, actor=Actor.for_user(manager))

    # When a manager opens the customer, the row is red, names the queue and the assignee, and links the exception
    html = row_html(client_for(manager).get(screen(order.customer)), order)
    assert 'data-disagrees="1"' in html and exception_href(mismatch) in html
    assert "WooCommerce says Completed, canonical is Cancelled" in words(html)
    assert f"The exception “State mismatch” owns it: {owner.name} queue (due in " in words(html)
    assert "), assigned to Amira Khan." in words(html)

    # and a support agent who may see the customer (a duplicate record sits in their queue) but not that
    # exception (another team's queue, another team's customer) is told who owns it, without a link
    duplicate, _ = exception_raise(kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"dup:{order.customer_id}",
                                   summary="Looks like another record", actor=SYSTEM, customer=order.customer)
    outsider = make_user("sam", group="Support agent")
    make_agent(outsider, teams=["support"])
    assert owner.slug != "support" and duplicate.queue.slug == "support"
    response = client_for(outsider).get(screen(order.customer))
    assert response.status_code == 200
    html = row_html(response, order)
    assert 'data-disagrees="1"' in html, "it is owned, so highlighted, for them too"
    assert exception_href(mismatch) not in html and "data-exception-link" not in html
    assert f"The exception “State mismatch” owns it: {owner.name} queue (due in " in words(html)
    assert "assigned to Amira Khan." in words(html)


def test_an_unmapped_status_row_names_who_holds_its_tracker(client_for, manager, shop):
    shop(status="pending")
    order = shop(status="ready-for-pickup")
    tracker = ExceptionCase.objects.get(kind=ExceptionKind.UNMAPPED_STATUS)
    bo = make_agent(make_user("bo", group="Support agent", first_name="Bo", last_name="Li"), teams=["commerce"])
    exception_assign(exception=tracker, agent=bo, actor=Actor.for_user(manager))

    html = row_html(client_for(manager).get(screen(order.customer)), order)

    assert 'data-disagrees="1"' in html and exception_href(tracker) in html
    assert "the exception “Unmapped status” in the Managers queue (due in " in words(html)
    assert "), assigned to Bo Li, tracks it." in words(html)


# --- not owned: said, not highlighted -------------------------------------------------------------------
@pytest.mark.parametrize("dismiss", [False, True])
def test_a_closed_disagreement_is_not_red_and_says_who_closed_it(client_for, manager, shop, dismiss):
    # Given an order whose state mismatch a manager closed while the shop still disagrees
    order, mismatch = refused_by_the_graph(shop)
    lena = make_user("lena", group="Manager", first_name="Lena", last_name="Ortiz")
    reason = "The shop reopened it by mistake; the refund stands"
    exception_close(exception=mismatch, actor=Actor.for_user(lena), reason=reason, dismiss=dismiss)
    mismatch.refresh_from_db()

    response = client_for(manager).get(screen(order.customer))

    # Then the row says how the systems disagree, that nothing owns it now, and who closed what, when, why
    row = row_of(response, order)
    assert (row.flagged, row.unowned, row.mismatch, row.closed.pk) == (False, True, None, mismatch.pk)
    html = row_html(response, order)
    assert 'data-disagrees="1"' not in html
    assert "<tr class=\"bg-red-50" not in html and "data-cell-disagrees" in html and "material-symbols-outlined text-sm\">error" not in html
    verb = "dismissed" if dismiss else "resolved"
    assert (
        "Cancelled WooCommerce says Completed, canonical is Cancelled No exception is open for this disagreement. "
        f"The exception “State mismatch” was {verb} by Lena Ortiz just now: “{reason}”. "
        "completed seen " + absolute(order.source_states.get().observed_at)
    ) in words(html), words(html)
    closed = timezone.localtime(mismatch.closed_at)
    assert f'<time datetime="{closed.isoformat(timespec="seconds")}" title="{absolute(closed)} {closed.tzname()}">' \
        in html, "when it was closed, the full date on hover"
    assert exception_href(mismatch) in html, "the closed exception, for its history"

    # and when the shop says it again, the exception reopens and the row is red again
    shop(status="completed", total="30.00")
    mismatch.refresh_from_db()
    assert mismatch.is_open
    assert 'data-disagrees="1"' in row_html(client_for(manager).get(screen(order.customer)), order)


def test_a_disagreement_no_exception_ever_owned_says_so(client_for, manager):
    customer = make_owned_customer(paid=True)
    order = make_order(customer, state="paid", raw_status="completed")  # written around the intake

    html = row_html(client_for(manager).get(screen(customer)), order)

    assert 'data-disagrees="1"' not in html
    assert "WooCommerce says Completed, canonical is Paid No exception is open for this disagreement." in words(html)
    assert "was resolved" not in html and "was dismissed" not in html


def test_operations_read_the_disagreement_without_highlight_or_exceptions(client_for, operations, shop):
    order, mismatch = refused_by_the_graph(shop)
    client = client_for(operations)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(screen(order.customer))

    html = row_html(response, order)
    assert "WooCommerce says Completed, canonical is Cancelled" in words(html)
    assert 'data-disagrees="1"' not in html and "exception" not in words(html).lower()
    assert not any("subject_key" in q["sql"] for q in queries), "operations never read exceptions"


# --- the ERP and CRM columns -------------------------------------------------------------------------------
def test_erp_column_says_no_record_for_the_order_beside_the_erps_events(client_for, manager):
    # Given a customer the ERP wrote an invoice event about, but no ERP status for their order
    customer = make_owned_customer(paid=True)
    order = customer.orders.get()
    TimelineEvent.objects.create(customer=customer, kind=EventKind.ERP_INVOICE, source=EventSource.ERP,
                                 summary="Invoice SINV-0042 booked", actor_kind="import", actor_ref="erp-import")

    response = client_for(manager).get(screen(customer))

    page = response.content.decode()
    assert {value: on for value, _, on in orders_of(response).systems} == {"woocommerce": True, "erp": True,
                                                                           "crm": False}
    assert "not connected yet" not in page
    cells = words(row_html(response, order))
    assert "No ERP record for this order." in cells
    assert "The ERP has sent nothing" not in page
    assert "The CRM has sent nothing about this customer yet." in page
    assert "Invoice SINV-0042 booked" in page, "the ERP's event, on the same screen"


def test_erp_column_reports_an_erp_status_on_an_older_page(client_for, manager):
    # the ERP knows an old order (not on the first page): the newer orders say it has no record of them
    customer = make_owned_customer(paid=True)
    old = customer.orders.get()
    make_source_state(order=old, system=System.ERP, raw_status="Completed", observed_at=timezone.now())
    start = timezone.now()
    newer = [make_order(customer, placed_at=start + datetime.timedelta(minutes=n)) for n in range(25)]

    response = client_for(manager).get(screen(customer))

    assert "No ERP record for this order." in words(row_html(response, newer[-1]))
    assert "The ERP has sent nothing" not in response.content.decode()


# --- cost ----------------------------------------------------------------------------------------------------
def many_disagreements(customer, orders, closer):
    """`orders` orders of every kind of row: agreeing, disagreeing with an open state mismatch (assigned
    or not), with a closed one (on the timeline), with none, and waiting with an open or a closed tracker."""
    start = timezone.now() - datetime.timedelta(days=orders + 1)
    assignee = make_agent(teams=["success", "commerce", "support", "marketing", "sales"])
    for n in range(orders):
        kind = n % 6
        raw = {0: "processing", 1: "completed", 2: "completed", 3: "completed", 4: f"plugin-{n % 12}",
               5: "on-hold"}[kind]
        order = make_order(customer, state="paid", raw_status=raw, namespace="main",
                           placed_at=start + datetime.timedelta(days=n))
        if kind in (1, 2):
            mismatch, _ = exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key=f"order:{order.pk}",
                                          summary="Differs", actor=SYSTEM, customer=customer, order=order)
            if kind == 2:
                if n % 4 == 0:
                    exception_assign(exception=mismatch, agent=assignee, actor=Actor.for_user(closer))
                else:
                    exception_close(exception=mismatch, actor=Actor.for_user(closer), reason="Checked")
        if kind == 4:
            tracker, _ = exception_raise(kind=ExceptionKind.UNMAPPED_STATUS,
                                         subject_key=unmapped_subject(System.WOOCOMMERCE, "main", raw),
                                         summary="No mapping", actor=SYSTEM)
            if n % 12 == 4 and tracker.is_open:
                exception_close(exception=tracker, actor=Actor.for_user(closer), reason="Plugin removed",
                                dismiss=True)


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_the_orders_section_costs_the_same_whatever_the_number_of_orders_and_exceptions(request, client_for, role):
    user = request.getfixturevalue(role)
    closer = make_user("closer", group="Manager", first_name="Cleo", last_name="Park")
    make_agent(teams=["success"], capacity=1_000)  # both get an agent: a waiting one's screen asks one more thing
    small, large = make_owned_customer(paid=True), make_owned_customer(paid=True)
    many_disagreements(small, 12, closer)
    many_disagreements(large, 120, closer)
    client = client_for(user)
    client.get(screen(small))  # warm the session, the content types and the store's mappings

    counts = []
    for customer in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(screen(customer))
        assert response.status_code == 200
        rows = orders_of(response).rows
        assert any(row.flagged for row in rows) and any(row.unowned and row.closed for row in rows)
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert counts[1] <= SCREEN_MAX_QUERIES, counts


def test_a_page_of_disagreeing_orders_stays_within_the_screens_budget(client_for, manager,
                                                                       django_assert_max_num_queries):
    customer = make_owned_customer(paid=True)
    closer = make_user("closer", group="Manager", first_name="Cleo", last_name="Park")
    many_disagreements(customer, 200, closer)
    client = client_for(manager)
    client.get(screen(customer))

    with django_assert_max_num_queries(SCREEN_MAX_QUERIES):
        response = client.get(screen(customer))

    rows = orders_of(response).rows
    assert {row.flagged for row in rows} == {True, False} and any(row.closed for row in rows)
