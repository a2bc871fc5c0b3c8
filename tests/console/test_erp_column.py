"""The customer screen's ERP column (issue 13, item 9): the ERP's raw status, readably, and what it
means; when it was seen and which import (file, line) carried it; and, when reconciliation's open
mismatch names the ERP, the cell highlighted with each broken rule and the time left in its window,
or how long it has been outside. Built through the real services: the shop's webhook, an ERP export
imported, reconciliation run."""

import datetime
import html as html_lib
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from console.admin.exceptions import countdown
from console.views.customers import _erp_import_url
from integrations.erp import status_mappings
from integrations.erp.importing import erp_import
from integrations.stores import store_connect
from integrations.woocommerce.intake import Item, orders_apply
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order, Ownership, ToleranceRule
from lifecycle.services import reconcile as engine
from lifecycle.values import Outcome
from tests.console.test_customer_screen import SCREEN_MAX_QUERIES
from tests.factories import team
from tests.integrations.wc_fixtures import load

pytestmark = pytest.mark.django_db
GENERIC = "Order Number,Status,Total,Currency,Modified At"
ERPNEXT = "Customer's Purchase Order,Status,Delivery Status,Billing Status,Grand Total,Currency,Modified"
TASK = Actor.task("reconcile_orders")


@pytest.fixture(autouse=True)
def erp_meanings():
    # The engine's own tests register a mapping of their own for "erp" and take it away after.
    engine.status_meanings_register("erp", status_mappings.status_meanings,
                                    cached=status_mappings.status_meanings_cached)


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck_test",
                         consumer_secret="cs_test", webhook_secret="s" * 32, actor=Actor.system("tests"))


@pytest.fixture
def rules(db):
    """One rule per kind of answer: the ERP holding a paid order is tolerated two hours; totals at once."""
    ToleranceRule.objects.update(active=False)
    held = ToleranceRule.objects.create(left_system="woocommerce", right_system="erp", condition="states",
                                        left_states=["paid"], right_match="any", right_states=["on_hold"],
                                        window_minutes=120, sentence="Shop paid, but the ERP holds it")
    totals = ToleranceRule.objects.create(left_system="woocommerce", right_system="erp", condition="amounts",
                                          window_minutes=0, sentence="Totals differ")
    return held, totals


def shop_paid(store, number, ago):
    """The shop reports order `number` as processing (paid), modified `ago` before now."""
    payload = load("order_retrieve_response.json")
    modified = (timezone.now() - ago).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    payload.update(id=number, number=str(number), status="processing", date_modified_gmt=modified)
    assert orders_apply(store=store, items=[Item(payload, Actor.webhook(f"main/d-{number}"))]) == [Outcome.APPLIED]
    order = Order.objects.get(namespace=store.slug, number=str(number))
    Ownership.objects.filter(customer=order.customer).update(team=team("support"))
    return order


def erp_file(header, *rows, filename, by):
    data = io.BytesIO(("\r\n".join([header, *rows]) + "\r\n").encode())
    batch = erp_import(data, filename=filename, actor=Actor.for_user(by), dry_run=False)
    assert batch.state == "applied", batch.message
    return batch


def moment(delta=datetime.timedelta(0)):
    return (timezone.now() + delta).isoformat(timespec="seconds")


def orders_of(response):
    return next(s["data"] for s in response.context["sections"] if s["key"] == "orders")


def erp_cell(response, order):
    row = next(row for row in orders_of(response).rows if row.order.pk == order.pk)
    return row, next(cell for cell in row.cells if cell is not None and cell.system == "erp")


def text(response):
    return " ".join(html_lib.unescape(strip_tags(response.content.decode())).split())


def test_the_erp_cell_says_its_raw_status_readably_what_it_means_when_and_from_which_line_of_which_file(
        client_for, store, rules, manager, support_agent, operations):
    order = shop_paid(store, 1042, datetime.timedelta(minutes=5))
    batch = erp_file(ERPNEXT, "", f"1042,To Deliver and Bill,Not Delivered,Not Billed,{order.total},EUR,{moment()}",
                     filename="sales-orders-week-49.csv", by=operations)
    admin_url = _erp_import_url(batch.pk)  # None until the ERP import admin exists

    for user, linked in ((manager, admin_url is not None), (support_agent, False)):
        response = client_for(user).get(reverse("console:customer", args=[order.customer_id]))

        row, cell = erp_cell(response, order)
        assert cell.raw_text == "To Deliver and Bill · Not Delivered · Not Billed"
        assert cell.meaning == "Fulfilling"
        assert cell.event_ref == f"erp-import:{batch.pk}/3"
        # the blank line counts: lines are the file's physical ones
        assert strip_tags(str(cell.carried_by)) == "sales-orders-week-49.csv, line 3"
        assert ("data-erp-import-link" in str(cell.carried_by)) is linked, user
        if linked:
            assert f'href="{admin_url}"' in str(cell.carried_by)
        assert not cell.tolerances and not row.flagged
        page = text(response)
        assert "To Deliver and Bill · Not Delivered · Not Billed means Fulfilling seen just now" in page
        assert "from sales-orders-week-49.csv, line 3" in page


def test_a_status_nobody_mapped_says_so_in_the_cell(client_for, store, rules, manager, operations):
    order = shop_paid(store, 1043, datetime.timedelta(minutes=5))
    erp_file(GENERIC, f"1043,awaiting customs,{order.total},EUR,{moment()}", filename="custom.csv", by=operations)

    response = client_for(manager).get(reverse("console:customer", args=[order.customer_id]))

    row, cell = erp_cell(response, order)
    assert cell.meaning == "no mapping yet" and cell.disagrees
    assert "ERP status “awaiting customs” has no mapping" in row.disagreements


def test_outside_its_tolerance_the_cell_is_highlighted_saying_which_rule_and_for_how_long(
        client_for, store, rules, manager, support_agent, operations):
    # given: the shop paid #1044 three hours ago; the ERP holds it: two hours of tolerance are over
    order = shop_paid(store, 1044, datetime.timedelta(hours=3))
    erp_file(GENERIC, f"1044,on hold,{order.total},EUR,{moment()}", filename="erp.csv", by=operations)
    assert engine.reconcile(full=True, actor=TASK).opened == 1

    for user in (manager, support_agent):
        response = client_for(user).get(reverse("console:customer", args=[order.customer_id]))

        # then: the row and its ERP cell are highlighted; the rule says how long it has been outside
        row, cell = erp_cell(response, order)
        assert row.flagged, user
        [note] = cell.tolerance_notes
        assert re.fullmatch(r"Shop paid, but the ERP holds it: outside tolerance for 1h 0\dm, since .+\.",
                            strip_tags(note)), note
        assert 'data-out-of-tolerance="1"' in response.content.decode()
        assert "Shop paid, but the ERP holds it: outside tolerance for 1h 0" in text(response)


def test_a_mismatch_still_open_says_how_long_is_left_in_the_window_of_the_rule_it_now_breaks(
        client_for, store, rules, manager, operations):
    # given: the shop paid #1045 40 minutes ago; the ERP holds it at another total (at once)
    order = shop_paid(store, 1045, datetime.timedelta(minutes=40))
    erp_file(GENERIC, f"1045,on hold,1.00,EUR,{moment(datetime.timedelta(minutes=-2))}", filename="a.csv",
             by=operations)
    assert engine.reconcile(full=True, actor=TASK).opened == 1
    # when: the ERP corrects its total but still holds it: the open mismatch now cites the held rule
    erp_file(GENERIC, f"1045,on hold,{order.total},EUR,{moment()}", filename="b.csv", by=operations)
    engine.reconcile(full=True, actor=TASK)
    case = ExceptionCase.objects.get(kind="state_mismatch", order=order, status__in=["open", "in_progress"])
    assert [rule["sentence"] for rule in case.evidence["rules"]] == ["Shop paid, but the ERP holds it"]

    response = client_for(manager).get(reverse("console:customer", args=[order.customer_id]))

    # then: about an hour and twenty minutes are left in its window, and the cell names the newer file
    _, cell = erp_cell(response, order)
    [tolerance] = cell.tolerances
    assert datetime.timedelta(minutes=79) <= tolerance.left <= datetime.timedelta(minutes=80)
    assert strip_tags(cell.tolerance_notes[0]) == (
        f"Shop paid, but the ERP holds it: within tolerance for {countdown(tolerance.left)} more.")
    assert strip_tags(str(cell.carried_by)) == "b.csv, line 2"
    assert "within tolerance for 1h 19m more" in text(response) or "within tolerance for 1h 20m more" in text(
        response)


def test_the_imports_ride_on_the_page_s_name_lookup_and_the_erp_s_meanings_cost_no_query_once_warm(
        client_for, store, rules, manager, operations):
    orders = [shop_paid(store, number, datetime.timedelta(minutes=5)) for number in (1050, 1051, 1052)]
    client = client_for(manager)
    url = reverse("console:customer", args=[orders[0].customer_id])

    def count():
        # The setup edited configuration rows in the test's own transaction, which no request shares:
        # let the per-process caches (the store's and the ERP's status mappings) serve as they would.
        connection._aftercare_config_edited_in = None
        client.get(url)  # warms them
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        return response, [q["sql"] for q in queries.captured_queries]

    _, before = count()
    erp_file(GENERIC, *[f"{o.number},paid,{o.total},EUR,{moment()}" for o in orders[:2]], filename="one.csv",
             by=operations)
    erp_file(GENERIC, f"1052,paid,{orders[2].total},EUR,{moment()}", filename="two.csv", by=operations)
    response, after = count()

    # the page names a store already: the imports ride on that lookup and cost no query of their own
    assert len(after) == len(before) and len(after) <= SCREEN_MAX_QUERIES, (len(before), len(after))
    assert sum("erp_erpimport" in q for q in after) == 1  # within the page's one name lookup
    assert not any("erp_erpstatusmapping" in q for q in after)
    cells = {row.order.number: cell for row in orders_of(response).rows for cell in row.cells
             if cell is not None and cell.system == "erp"}
    assert {number: (cell.meaning, strip_tags(str(cell.carried_by))) for number, cell in cells.items()} == {
        "1050": ("Paid", "one.csv, line 2"), "1051": ("Paid", "one.csv, line 3"), "1052": ("Paid", "two.csv, line 2")}
