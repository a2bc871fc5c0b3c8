"""GET /api/v1/customers/ and /customers/<id>/: lookups, the shape a helpdesk sidebar reads, caps, query counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.models import StatusMapping
from integrations.stores import store_connect
from lifecycle.models import OPEN_STATUSES, ExceptionKind, IdentityKind
from lifecycle.selectors.api import OPEN_EXCEPTIONS_PER_CUSTOMER, ORDERS_PER_CUSTOMER
from lifecycle.services.customers import customer_link_identity
from lifecycle.services.exceptions import exception_raise, exception_resolve
from tests.api.conftest import hand_to, token_client, wait_on_unmapped
from tests.factories import SYSTEM, make_customer, make_order, make_source_state

pytestmark = pytest.mark.django_db
CUSTOMERS = "/api/v1/customers/"


def _lookup(client, **params):
    response = client.get(CUSTOMERS, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _ids(results):
    return [c["id"] for c in results]


def test_lookup_by_email_is_trimmed_and_case_insensitive_and_returns_the_full_sidebar_shape(world, manager):
    # given Anna with an owner, two orders (the latest seen by shop and ERP) and open exceptions
    client = token_client(manager)

    # when a helpdesk looks her up by the email as typed in a ticket
    [anna] = _lookup(client, email="  Anna@Example.COM ")

    # then one customer comes back with owner, stage, orders with each system's raw status, exceptions
    assert set(anna) == {"id", "name", "email", "owner", "stage", "health", "orders", "orders_total",
                         "open_exceptions", "open_exceptions_total", "crm", "journey"}
    assert anna["crm"] is None  # no CRM connected: tests/api/test_customers_crm.py
    assert set(anna["orders"][0]) == {"id", "number", "state", "total", "currency", "placed_at", "sources", "waiting_on"}
    assert (anna["id"], anna["name"], anna["email"]) == (world.anna.pk, "Anna Schmidt", "anna@example.com")
    assert anna["owner"]["team"] == {"slug": "commerce", "name": "Commerce"}
    assert anna["owner"]["agent"] is None and anna["owner"]["since"]
    assert anna["stage"] == world.anna.stage == "onboarding"
    assert anna["health"] is None  # until health scores exist
    assert anna["orders_total"] == 2
    latest = anna["orders"][0]
    assert (latest["number"], latest["state"], latest["total"], latest["currency"]) == ("1042", "paid", "49.90", "EUR")
    assert {(s["system"], s["status"]) for s in latest["sources"]} == {("woocommerce", "processing"),
                                                                     ("erp", "To Deliver")}
    assert all(s["seen_at"] for s in latest["sources"])
    # each system's word with what it means under that system's mapping; the ERP's bare "To Deliver" is no
    # status combination its mapping knows (ERPNext's are status|delivery|billing), so its meaning is unknown
    assert {s["system"]: s["means"] for s in latest["sources"]} == {"woocommerce": "paid", "erp": None}
    assert [o["number"] for o in anna["orders"]] == ["1042", "1041"]  # newest first
    mismatch = next(x for x in anna["open_exceptions"] if x["kind"] == "state_mismatch")
    assert set(mismatch) >= {"kind", "queue", "assignee", "due_at", "status", "severity"}
    assert (mismatch["id"], mismatch["status"], mismatch["severity"], mismatch["order"]) == (
        world.anna_open.pk, "open", "normal", "1042")
    assert mismatch["due_at"] and mismatch["assignee"] is None
    # the resolved payment problem is history, not an open exception
    assert "payment_problem" not in {x["kind"] for x in anna["open_exceptions"]}
    assert anna["open_exceptions_total"] == len(anna["open_exceptions"])


def test_lookup_matches_a_secondary_email_identity(world, manager):
    customer_link_identity(customer=world.anna, kind=IdentityKind.EMAIL, value="anna.work@example.com", actor=SYSTEM)
    assert _ids(_lookup(token_client(manager), email="ANNA.WORK@example.com")) == [world.anna.pk]


@pytest.mark.parametrize("number", ["1042", "#1042", " #1042 "])
def test_lookup_by_order_number_as_customers_quote_it(world, manager, number):
    assert _ids(_lookup(token_client(manager), order_number=number)) == [world.anna.pk]


@pytest.mark.parametrize("value", ["501", "crm-77", "anna@example.com", " ANNA@example.com"])
def test_lookup_by_any_external_id(world, manager, value):
    assert _ids(_lookup(token_client(manager), external_id=value)) == [world.anna.pk]


def test_lookups_combine_with_and(world, manager):
    client = token_client(manager)
    assert _ids(_lookup(client, email="anna@example.com", order_number="1042")) == [world.anna.pk]
    assert _lookup(client, email="anna@example.com", order_number="2001") == []  # Ben's order


@pytest.mark.parametrize("params", [{"email": "nobody@example.com"}, {"order_number": "9999"},
                                    {"external_id": "nope"}, {"email": "   "}, {"order_number": " # "}])
def test_a_lookup_without_match_or_of_blanks_returns_nobody(world, manager, params):
    # a blank email must not match every customer that has no email
    make_customer(email="")
    assert _lookup(token_client(manager), **params) == []


@pytest.mark.parametrize("params", [{"email": ""}, {"email": "a\x00b"}, {"email": "x" * 255},
                                    {"page_size": "0"}, {"page_size": "101"}, {"page_size": "ten"}])
def test_invalid_parameters_answer_400_naming_the_parameter(world, manager, params):
    response = token_client(manager).get(CUSTOMERS, params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_without_a_lookup_lists_visible_customers_newest_first_by_cursor(world, manager):
    client = token_client(manager)
    first = client.get(CUSTOMERS, {"page_size": 2}).json()
    assert "count" not in first  # cursor pagination: no COUNT over the customers table
    assert _ids(first["results"]) == [world.carla.pk, world.ben.pk]
    second = client.get(first["next"]).json()
    assert _ids(second["results"]) == [world.anna.pk] and second["next"] is None
    assert client.get(CUSTOMERS, {"cursor": "garbage"}).status_code == 404


def test_a_customer_without_orders_or_owner(world, manager):
    carla = token_client(manager).get(f"{CUSTOMERS}{world.carla.pk}/").json()
    assert (carla["owner"], carla["orders"], carla["orders_total"], carla["open_exceptions"]) == (None, [], 0, [])
    assert carla["stage"] == "prospect"


def test_detail_has_the_list_shape(world, manager):
    client = token_client(manager)
    detail = client.get(f"{CUSTOMERS}{world.anna.pk}/")
    assert detail.status_code == 200
    assert detail.json() == _lookup(client, email="anna@example.com")[0]


def test_unknown_customer_is_404(world, manager):
    assert token_client(manager).get(f"{CUSTOMERS}999999/").status_code == 404


# --- caps and query counts ----------------------------------------------------------------------
def _busy_customer(n_orders, shared_id, store):
    """A customer with n orders (each seen by the shop and the ERP), an open exception per order,
    and WooCommerce customer id `shared_id` in store `store`."""
    customer = make_customer()
    customer_link_identity(customer=customer, kind=IdentityKind.WOOCOMMERCE, namespace=store, value=shared_id,
                           actor=SYSTEM)
    start = timezone.now() - timedelta(days=n_orders)
    for i in range(n_orders):
        order = make_order(customer, placed_at=start + timedelta(days=i), raw_status="processing")
        make_source_state(order=order, system="erp", raw_status="Open",
                             observed_at=start + timedelta(days=i, hours=1))
        exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key=f"order:{order.pk}", summary="disagree",
                        customer=customer, order=order, actor=SYSTEM)
    return hand_to(customer, "support")


def _queries(client, path, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    return len(captured), response.json()


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_query_count_is_the_same_for_one_and_five_matching_customers(role, request):
    # given one customer, then five, sharing WooCommerce customer id 7 (five stores)
    client = token_client(request.getfixturevalue(role))
    _busy_customer(3, "7", "store-0")
    _queries(client, CUSTOMERS, {"external_id": "7"})  # a store's status mappings are read once per process
    one, body = _queries(client, CUSTOMERS, {"external_id": "7"})
    assert len(body["results"]) == 1
    for n in range(1, 5):
        _busy_customer(3, "7", f"store-{n}")

    # when a helpdesk looks up id 7
    five, body = _queries(client, CUSTOMERS, {"external_id": "7"})

    # then the same number of queries answers five customers as one (no query per customer or order)
    assert len(body["results"]) == 5
    assert all(len(c["orders"]) == 3 and len(c["orders"][0]["sources"]) == 2 for c in body["results"])
    assert five == one
    # the token, the user's permissions, the customers (with health and CRM), their orders, the orders'
    # sources, exceptions, journey steps; and an agent's Agent row
    assert one <= {"manager": 7, "support_agent": 8}[role], f"{one} queries for a lookup"


def test_one_huge_customer_is_capped_and_counted_in_bounded_queries(manager):
    busy = _busy_customer(ORDERS_PER_CUSTOMER + 5, "8", "main")
    queries, body = _queries(token_client(manager), f"{CUSTOMERS}{busy.pk}/")
    assert len(body["orders"]) == ORDERS_PER_CUSTOMER and body["orders_total"] == ORDERS_PER_CUSTOMER + 5
    assert body["orders"][0]["placed_at"] > body["orders"][-1]["placed_at"]  # the latest ones
    assert len(body["open_exceptions"]) == OPEN_EXCEPTIONS_PER_CUSTOMER
    assert body["open_exceptions_total"] == busy.exceptions.filter(status__in=OPEN_STATUSES).count()
    assert queries <= 9, f"{queries} queries for one customer"  # a lookup's seven and the two totals


def test_list_query_count_does_not_grow_with_the_page(manager):
    client = token_client(manager)
    _busy_customer(2, "9", "a")
    small, _ = _queries(client, CUSTOMERS)
    for store in "bcde":
        _busy_customer(2, "9", store)
    _queries(client, CUSTOMERS)  # each new store's status mapping is read once per process
    large, body = _queries(client, CUSTOMERS)
    assert len(body["results"]) == 5 and large == small


def test_a_page_of_several_customers_caps_each_one_on_its_own(manager):
    # given two customers behind one WooCommerce id: one with more orders than the cap, one with two
    busy, quiet = _busy_customer(ORDERS_PER_CUSTOMER + 2, "11", "a"), _busy_customer(2, "11", "b")

    # when both come back in one lookup
    body = {c["id"]: c for c in _lookup(token_client(manager), external_id="11")}

    # then the busy one is capped and counted, and the quiet one keeps all of its orders
    assert (len(body[busy.pk]["orders"]), body[busy.pk]["orders_total"]) == (ORDERS_PER_CUSTOMER,
                                                                             ORDERS_PER_CUSTOMER + 2)
    assert (len(body[quiet.pk]["orders"]), body[quiet.pk]["orders_total"]) == (2, 2)
    open_of = lambda c: c.exceptions.filter(status__in=OPEN_STATUSES).count()  # noqa: E731
    assert body[busy.pk]["open_exceptions_total"] == open_of(busy) > OPEN_EXCEPTIONS_PER_CUSTOMER
    assert len(body[busy.pk]["open_exceptions"]) == OPEN_EXCEPTIONS_PER_CUSTOMER
    assert body[quiet.pk]["open_exceptions_total"] == open_of(quiet) == len(body[quiet.pk]["open_exceptions"])


# --- orders waiting for a status mapping ----------------------------------------------------------
def _order(body, number):
    return next(order for order in body["orders"] if order["number"] == number)


@pytest.mark.parametrize(("role", "may_open"), [("manager", True), ("support_agent", False)])
def test_an_order_waiting_for_a_mapping_says_so_and_names_the_exception_that_tracks_it(world, request, role,
                                                                                       may_open):
    # given an order of Anna's whose shop status nobody mapped, tracked by the store's exception in the
    # managers' queue (which a support agent may not open)
    _, exception = wait_on_unmapped(world.anna, number="1043")

    body = token_client(request.getfixturevalue(role)).get(f"{CUSTOMERS}{world.anna.pk}/").json()

    waiting = _order(body, "1043")["waiting_on"]
    assert parse_datetime(waiting["exception"].pop("due_at")) == exception.due_at
    assert waiting == {"reason": "unmapped_status", "system": "woocommerce", "raw_status": "shipped",
                       "exception": {"id": exception.pk if may_open else None, "kind": "unmapped_status",
                                     "queue": None}}
    assert _order(body, "1042")["waiting_on"] is None  # "processing" is mapped
    assert _order(body, "1041")["waiting_on"] is None  # the shop said nothing yet


def test_operations_learn_that_an_order_waits_but_nothing_of_the_exception(world, operations):
    wait_on_unmapped(world.anna, number="1043")

    body = token_client(operations).get(f"{CUSTOMERS}{world.anna.pk}/").json()

    assert _order(body, "1043")["waiting_on"] == {"reason": "unmapped_status", "system": "woocommerce",
                                                  "raw_status": "shipped", "exception": None}
    assert body["open_exceptions"] is None


def test_only_an_open_exception_tracks_the_order_and_a_mapping_ends_the_wait(world, manager):
    _, exception = wait_on_unmapped(world.anna, number="1043")
    client = token_client(manager)

    exception_resolve(kind=ExceptionKind.UNMAPPED_STATUS, subject_key=exception.subject_key,
                      reason="resolved by hand", actor=SYSTEM)
    waiting = _order(client.get(f"{CUSTOMERS}{world.anna.pk}/").json(), "1043")["waiting_on"]
    assert (waiting["raw_status"], waiting["exception"]) == ("shipped", None)  # the status is still unmapped

    store = store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret="whsec", actor=SYSTEM)
    StatusMapping.objects.create(store=store, raw_status="shipped", canonical="shipped")
    [anna] = _lookup(client, email="anna@example.com")
    assert _order(anna, "1043")["waiting_on"] is None


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_waiting_orders_cost_one_query_for_the_whole_page(world, request, role):
    client = token_client(request.getfixturevalue(role))
    _queries(client, CUSTOMERS)
    before, _ = _queries(client, CUSTOMERS)
    wait_on_unmapped(world.anna, "shipped")
    _queries(client, CUSTOMERS)  # the store's status mappings are read once per process
    one, _ = _queries(client, CUSTOMERS)
    wait_on_unmapped(world.anna, "ready-for-pickup")
    wait_on_unmapped(world.anna, "shipped")  # a second order on the first status

    three, body = _queries(client, CUSTOMERS)

    assert one == three == before + 1, (before, one, three)
    [anna] = [c for c in body["results"] if c["id"] == world.anna.pk]
    assert sum(order["waiting_on"] is not None for order in anna["orders"]) == 3
