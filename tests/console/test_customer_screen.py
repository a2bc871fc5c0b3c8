"""The customer screen: one page per customer with owner, stage, orders, exceptions and timeline;
stage moves and exception work from the page go through the services; visibility decides who sees it."""

import datetime
import html as html_lib
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags

from integrations.models import StatusMapping
from integrations.stores import store_connect
from lifecycle.actors import Actor
from lifecycle.models import (
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Handoff,
    Ownership,
    Stage,
    System,
    TimelineEvent,
)
from lifecycle.selectors.customers import EVENTS_PER_PAGE, ORDERS_PER_PAGE
from lifecycle.services import timeline
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import exception_close
from lifecycle.statuses import unmapped_subject
from tests.factories import (
    SYSTEM,
    make_agent,
    make_customer,
    make_order,
    make_owned_customer,
    make_source_state,
    make_user,
    team,
)

# Session, user, permissions, agent and teams, customer, handoffs, orders, source states, store
# mappings, systems reporting, open and closed exceptions, assignable agents, timeline: 15 at most
# (the budget), whatever the number of orders and events; and the journey's steps (issue 15).
SCREEN_MAX_QUERIES = 16


def screen(customer):
    return reverse("console:customer", args=[customer.pk])


def move(customer):
    return reverse("console:customer_move_stage", args=[customer.pk])


def act(exception):
    return reverse("console:customer_exception", args=[exception.customer_id, exception.pk])


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def section(response, key):
    return next(s["data"] for s in response.context["sections"] if s["key"] == key)


def section_keys(response):
    return [s["key"] for s in response.context["sections"]]


@pytest.fixture
def onboarding_customer(support_agent):
    """Paid first order (WooCommerce says processing): onboarding, owned by success (the agent's team)."""
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    make_order(customer, state="paid", raw_status="processing", namespace="main")
    customer.refresh_from_db()
    assert customer.stage == Stage.ONBOARDING
    return customer


def payment_problem(customer, summary="Card declined twice"):
    """Goes to the commerce queue (DOMAIN.md), one of the support_agent fixture's teams."""
    order = customer.orders.first()
    exception, _ = exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{order.pk}",
                                   summary=summary, actor=SYSTEM, customer=customer, order=order)
    return exception


# --- what the page shows --------------------------------------------------------------------------
def test_page_shows_owner_stage_orders_exceptions_and_timeline(client_for, support_agent, onboarding_customer):
    # Given a customer with an owner, a paid order WooCommerce reported and an open exception
    problem = payment_problem(onboarding_customer)
    order = onboarding_customer.orders.get()

    # When their owner team's agent opens the screen
    response = client_for(support_agent).get(screen(onboarding_customer))

    # Then every section is there, inside the admin layout
    assert response.status_code == 200
    page = response.content.decode()
    assert section_keys(response) == ["owner", "stage", "health", "orders", "exceptions", "journey", "timeline"]
    assert response.context["sidebar_navigation"], "rendered inside unfold's layout, with the sidebar"
    ownership = Ownership.objects.select_related("team").get(customer=onboarding_customer)
    assert ownership.team.name in page
    assert Handoff.objects.filter(customer=onboarding_customer).first().reason in page
    assert "Onboarding" in page
    assert f"#{order.number}" in page and "processing" in page
    assert problem.summary in page and "due in" in page
    assert "Customer Ada Lovelace created" in page
    assert "Not connected yet" not in page, "health and the journey are connected"
    assert "Not scored yet" in page, "its first score comes within a minute of its first order"
    assert "not connected yet" not in page, "the order columns say what a system sent, in sentences"
    assert "The ERP has sent nothing about this customer yet." in page
    assert "The CRM has sent nothing about this customer yet." in page
    assert 'id="customer-search"' in page, "the search box sits in the header"


def test_owner_section_says_since_when_and_by_which_rule(client_for, manager, onboarding_customer):
    response = client_for(manager).get(screen(onboarding_customer))

    owner = section(response, "owner")
    assert owner.ownership.team.slug == "success"
    assert owner.ownership.last_handoff.rule in response.content.decode()
    assert [h.pk for h in owner.handoffs] == list(
        Handoff.objects.filter(customer=onboarding_customer).order_by("-created_at", "-id").values_list("pk", flat=True)
    )


def test_operations_see_orders_and_timeline_but_not_owners_or_exceptions(client_for, operations, onboarding_customer):
    response = client_for(operations).get(screen(onboarding_customer))

    assert response.status_code == 200
    assert section_keys(response) == ["stage", "health", "orders", "journey", "timeline"]


# --- who sees it ----------------------------------------------------------------------------------
def test_agent_of_another_team_gets_403_for_the_page_and_404_for_its_actions(client_for, onboarding_customer):
    problem = payment_problem(onboarding_customer)
    outsider = make_user(group="Support agent")
    make_agent(outsider, teams=["marketing"])
    client = client_for(outsider)

    assert client.get(screen(onboarding_customer)).status_code == 403  # whom to ask: tests/console/test_refusals.py
    assert client.post(move(onboarding_customer), {"transition": "activate"}).status_code == 404
    assert client.post(act(problem), {"action": "claim"}).status_code == 404
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.ONBOARDING
    assert ExceptionCase.objects.get(pk=problem.pk).status == ExceptionStatus.OPEN


def test_manager_sees_every_customer(client_for, manager):
    customer = make_owned_customer(paid=True)  # owned by success; the manager is in no team
    assert client_for(manager).get(screen(customer)).status_code == 200


def test_anonymous_user_is_sent_to_the_login_page(client, onboarding_customer):
    response = client.get(screen(onboarding_customer))
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def test_unknown_customer_is_404(client_for, manager):
    assert client_for(manager).get(reverse("console:customer", args=[999999])).status_code == 404


# --- stage moves ----------------------------------------------------------------------------------
def moves(response):
    return {m.name: m.backward for m in section(response, "stage").moves}


def test_agent_is_offered_only_forward_moves_and_manager_also_backward(client_for, support_agent, manager,
                                                                        onboarding_customer):
    agent_moves = moves(client_for(support_agent).get(screen(onboarding_customer)))
    manager_moves = moves(client_for(manager).get(screen(onboarding_customer)))

    assert agent_moves == {"activate": False, "flag_at_risk": False, "churn": False}
    assert manager_moves == {**agent_moves, "back_to_purchased": True}


def test_forward_move_from_the_screen_calls_the_service(client_for, support_agent, onboarding_customer):
    response = client_for(support_agent).post(move(onboarding_customer), {"transition": "activate"})

    assert response.status_code == 302 and response.url == screen(onboarding_customer) + "#stage"
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.ACTIVE
    assert TimelineEvent.objects.filter(customer=onboarding_customer, kind="stage_changed").exists()
    assert any("Activate" in m for m in texts(response))


def test_refused_move_shows_the_reason_and_changes_nothing(client_for, support_agent, onboarding_customer):
    events = TimelineEvent.objects.filter(customer=onboarding_customer).count()

    response = client_for(support_agent).post(move(onboarding_customer),
                                              {"transition": "back_to_purchased", "reason": "Paid by mistake"})

    assert response.status_code == 302
    assert any("needs a manager" in m for m in texts(response))
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.ONBOARDING
    assert TimelineEvent.objects.filter(customer=onboarding_customer).count() == events


def test_impossible_move_is_refused_with_a_message(client_for, support_agent, onboarding_customer):
    response = client_for(support_agent).post(move(onboarding_customer), {"transition": "make_loyal"})

    assert any("not possible from Onboarding" in m for m in texts(response))
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.ONBOARDING


def test_manager_moves_back_only_with_a_reason(client_for, manager, onboarding_customer):
    client = client_for(manager)

    without = client.post(move(onboarding_customer), {"transition": "back_to_purchased", "reason": " "})
    assert any("needs a reason" in m for m in texts(without))
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.ONBOARDING

    client.post(move(onboarding_customer), {"transition": "back_to_purchased", "reason": "Payment reversed"})
    onboarding_customer.refresh_from_db()
    assert onboarding_customer.stage == Stage.PURCHASED


def test_get_on_a_write_url_is_refused(client_for, manager, onboarding_customer):
    assert client_for(manager).get(move(onboarding_customer)).status_code == 405


# --- exceptions -----------------------------------------------------------------------------------
def open_row(response, exception):
    return next(row for row in section(response, "exceptions").open if row.exception.pk == exception.pk)


def test_agent_claims_then_resolves_from_the_screen(client_for, support_agent, onboarding_customer):
    problem = payment_problem(onboarding_customer)
    client = client_for(support_agent)
    assert open_row(client.get(screen(onboarding_customer)), problem).actions == {"claim", "resolve"}

    claimed = client.post(act(problem), {"action": "claim"})
    assert claimed.url == screen(onboarding_customer) + "#exceptions"
    problem.refresh_from_db()
    assert problem.status == ExceptionStatus.IN_PROGRESS and problem.assignee.user == support_agent
    assert open_row(client.get(screen(onboarding_customer)), problem).actions == {"release", "resolve"}

    client.post(act(problem), {"action": "resolve", "reason": "Customer paid by bank transfer"})
    problem.refresh_from_db()
    assert problem.status == ExceptionStatus.RESOLVED
    history = section(client.get(screen(onboarding_customer)), "exceptions")
    assert history.open == [] and [x.pk for x in history.closed] == [problem.pk]


def test_resolve_without_a_reason_is_refused(client_for, support_agent, onboarding_customer):
    problem = payment_problem(onboarding_customer)

    response = client_for(support_agent).post(act(problem), {"action": "resolve", "reason": ""})

    assert any("needs a reason" in m for m in texts(response))
    assert ExceptionCase.objects.get(pk=problem.pk).status == ExceptionStatus.OPEN


def test_only_managers_dismiss_and_only_with_a_reason(client_for, support_agent, manager, onboarding_customer):
    problem = payment_problem(onboarding_customer)

    by_agent = client_for(support_agent).post(act(problem), {"action": "dismiss", "reason": "Noise"})
    assert any("Only managers can dismiss" in m for m in texts(by_agent))
    assert ExceptionCase.objects.get(pk=problem.pk).status == ExceptionStatus.OPEN

    client = client_for(manager)
    assert {"dismiss", "assign"} <= open_row(client.get(screen(onboarding_customer)), problem).actions
    no_reason = client.post(act(problem), {"action": "dismiss"})
    assert any("needs a reason" in m for m in texts(no_reason))
    assert ExceptionCase.objects.get(pk=problem.pk).status == ExceptionStatus.OPEN

    client.post(act(problem), {"action": "dismiss", "reason": "Test order from the shop owner"})
    problem.refresh_from_db()
    assert problem.status == ExceptionStatus.DISMISSED
    assert problem.resolution_reason == "Test order from the shop owner"


def test_manager_reassigns_and_an_agent_cannot(client_for, support_agent, manager, onboarding_customer):
    problem = payment_problem(onboarding_customer)
    colleague = make_agent(teams=["commerce"])

    by_agent = client_for(support_agent).post(act(problem), {"action": "assign", "agent": colleague.pk})
    assert any("Only managers can assign" in m for m in texts(by_agent))
    assert ExceptionCase.objects.get(pk=problem.pk).assignee is None

    client = client_for(manager)
    row = open_row(client.get(screen(onboarding_customer)), problem)
    assert colleague.pk in {agent_id for agent_id, _ in row.agents}, "agents of the commerce queue are offered"
    assert "claim" not in row.actions, "a manager without an agent profile does not work queues"
    client.post(act(problem), {"action": "assign", "agent": colleague.pk})
    problem.refresh_from_db()
    assert problem.assignee == colleague and problem.status == ExceptionStatus.IN_PROGRESS


def test_managers_row_posts_each_action_to_the_exception_with_its_assignee_selected(client_for, manager,
                                                                                    onboarding_customer):
    """The forms a manager sees on an assigned exception: dismiss and resolve ask for a reason, the assign
    list offers the queue's agents with the current assignee selected, all posting to this exception."""
    problem = payment_problem(onboarding_customer)
    colleague, other = make_agent(teams=["commerce"]), make_agent(teams=["commerce"])
    ExceptionCase.objects.filter(pk=problem.pk).update(assignee=colleague)

    html = client_for(manager).get(screen(onboarding_customer)).content.decode()
    row = html[html.index(f'data-exception="{problem.pk}"'):]
    row = row[:row.index("</tr>")]

    assert row.count(f'action="{act(problem)}"') == row.count("<form"), "every form posts to this exception"
    for action in ("dismiss", "assign"):
        assert f'name="action" value="{action}"' in row
    assert row.count('name="reason" rows="2" required') == row.count('value="resolve"') + row.count('value="dismiss"')
    assert f'<option value="{colleague.pk}" selected>' in row
    assert f'<option value="{other.pk}">' in row


def test_overdue_exception_shows_overdue(client_for, manager, onboarding_customer):
    problem = payment_problem(onboarding_customer)
    ExceptionCase.objects.filter(pk=problem.pk).update(due_at=timezone.now() - datetime.timedelta(hours=3))

    row = open_row(client_for(manager).get(screen(onboarding_customer)), problem)

    assert row.overdue and row.sla.startswith(("overdue 2h", "overdue 3h"))
    assert "font-semibold text-red-600" in client_for(manager).get(screen(onboarding_customer)).content.decode()


# --- orders ---------------------------------------------------------------------------------------
def order_rows(response):
    return {row.order.number: row for row in section(response, "orders").rows}


def test_disagreements_are_said_and_highlighted_only_when_an_exception_owns_them(client_for, manager,
                                                                                 onboarding_customer):
    # Given one order the shop reports in agreement, one it reports differently and one with a status nobody
    # mapped, and no exception open for either (tests/console/test_order_disagreements.py has the owned ones)
    agreeing = onboarding_customer.orders.get()
    differing = make_order(onboarding_customer, state="paid", raw_status="completed")
    unmapped = make_order(onboarding_customer, state="paid", raw_status="ready-for-pickup")

    response = client_for(manager).get(screen(onboarding_customer))

    rows = order_rows(response)
    assert rows[agreeing.number].disagreements == []
    assert rows[differing.number].disagreements == ["WooCommerce says Completed, canonical is Paid"]
    # the status nobody mapped is said once, as why the order waits (see the waiting tests below)
    assert rows[unmapped.number].disagreements == []
    assert rows[unmapped.number].waiting.raw_status == "ready-for-pickup"
    assert rows[unmapped.number].cells[0].disagrees
    # nobody owns them: said, not highlighted
    assert [number for number, row in rows.items() if row.unowned] == [unmapped.number, differing.number]
    page = response.content.decode()
    assert 'data-disagrees="1"' not in page and '<tr class="bg-red-50' not in page
    assert page.count("No exception is open for this disagreement.") == 1, "the waiting note says it for the other"


def test_erp_column_fills_once_the_erp_reports(client_for, manager, onboarding_customer):
    order = onboarding_customer.orders.get()
    make_source_state(order=order, system=System.ERP, raw_status="To Deliver and Bill",
                         observed_at=timezone.now())

    response = client_for(manager).get(screen(onboarding_customer))

    assert {value: connected for value, _, connected in section(response, "orders").systems} == {
        "woocommerce": True, "erp": True, "crm": False}
    assert "To Deliver and Bill" in response.content.decode()


def test_orders_are_paginated_newest_first(client_for, manager, onboarding_customer):
    start = timezone.now() - datetime.timedelta(days=100)
    for day in range(ORDERS_PER_PAGE + 4):  # plus the fixture's order: one page and five more
        make_order(onboarding_customer, placed_at=start + datetime.timedelta(days=day))
    client = client_for(manager)

    first = section(client.get(screen(onboarding_customer)), "orders")
    assert len(first.rows) == ORDERS_PER_PAGE and first.newer is None and first.older
    placed = [row.order.placed_at for row in first.rows]
    assert placed == sorted(placed, reverse=True)

    second = section(client.get(screen(onboarding_customer) + first.older_url), "orders")
    assert len(second.rows) == 5 and second.older is None and second.newer
    assert {r.order.pk for r in first.rows}.isdisjoint({r.order.pk for r in second.rows})

    back = section(client.get(screen(onboarding_customer) + second.newer_url), "orders")
    assert [r.order.pk for r in back.rows] == [r.order.pk for r in first.rows]


# --- orders waiting for a status mapping -----------------------------------------------------------
def wait_on_unmapped(customer, raw_status="shipped", namespace="main"):
    """An order whose shop status nobody mapped, and that store's one open unmapped_status exception
    (no customer; the managers' queue by default), as the intake raises it."""
    order = make_order(customer, state="paid", raw_status=raw_status, namespace=namespace)
    exception, _ = exception_raise(
        kind=ExceptionKind.UNMAPPED_STATUS, subject_key=unmapped_subject(System.WOOCOMMERCE, namespace, raw_status),
        summary=f"Main Shop: WooCommerce status “{raw_status}” has no mapping", actor=SYSTEM,
        evidence={"store": namespace, "raw_status": raw_status, "example_order": order.number},
    )
    return order, exception


def waiting_note(response, order):
    """The order row's waiting note as (text, html), or None when the row has none."""
    page = response.content.decode()
    row = page[page.index(f">#{order.number}</a>"):]
    row = row[:row.index("</tr>")]
    if "data-waiting=" not in row:
        return None
    note = row[row.index("data-waiting="):]
    note = note[:note.index("</p>")]
    sentence = note[note.index("<p>"):]
    return " ".join(html_lib.unescape(strip_tags(sentence)).split()), note


def exception_link(exception):
    return f'href="{reverse("admin:lifecycle_exceptioncase_change", args=[exception.pk])}"'


@pytest.fixture
def store(db):
    return store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck_test",
                         consumer_secret="cs_test", webhook_secret="whsec", actor=SYSTEM)


def test_an_order_waiting_for_a_mapping_says_why_and_which_exception_tracks_it(client_for, manager,
                                                                               onboarding_customer):
    # Given an order the shop reports as "shipped", which nobody mapped, and the store's open exception
    waiting, exception = wait_on_unmapped(onboarding_customer)
    assert (exception.customer, exception.queue, exception.status) == (None, None, ExceptionStatus.OPEN)
    # and the same status from another store, whose exception is not open
    elsewhere = make_order(onboarding_customer, state="paid", raw_status="shipped", namespace="outlet")

    # When a manager opens the customer
    response = client_for(manager).get(screen(onboarding_customer))

    # Then the row says why it waits, who maps it, and which exception (queue, SLA) tracks it
    text, note = waiting_note(response, waiting)
    sla = re.search(r"\((due in \d+(d \d+h|h \d\dm))\)", text)
    assert sla, text
    assert text == (
        "Waiting for a status mapping: the shop's status “shipped” means nothing to the console yet. "
        f"A manager maps it in Status mappings; the exception “Unmapped status” in the Managers queue ({sla[1]}) "
        "tracks it."
    )
    assert f'title="{date_format(timezone.localtime(exception.due_at), "DATETIME_FORMAT")}"' in note
    assert exception_link(exception) in note
    assert "store_slug=main&amp;raw_status=shipped" in note, "managers get the mapping form, filled in"
    assert order_rows(response)[waiting.number].waiting.exception.pk == exception.pk
    # the other store's order waits too, but no open exception tracks that store's status
    assert waiting_note(response, elsewhere)[0].endswith("A manager maps it in Status mappings; no open exception "
                                                         "tracks it.")
    assert waiting_note(response, onboarding_customer.orders.order_by("placed_at").first()) is None


def test_an_agent_sees_the_queue_and_due_time_but_no_link_to_an_exception_they_cannot_open(
        client_for, support_agent, onboarding_customer):
    waiting, exception = wait_on_unmapped(onboarding_customer)
    client = client_for(support_agent)  # support, success and commerce: not the managers' queue

    text, note = waiting_note(client.get(screen(onboarding_customer)), waiting)

    assert "A manager maps it in Status mappings; the exception “Unmapped status” in the Managers queue (due in " in text
    assert "<a " not in note, "neither the exception, which they may not open, nor the mapping form"
    assert client.get(reverse("admin:lifecycle_exceptioncase_change", args=[exception.pk])).status_code != 200

    # once the exception sits in a queue of theirs they may open it, and get its link
    ExceptionCase.objects.filter(pk=exception.pk).update(queue=team("success"))
    text, note = waiting_note(client.get(screen(onboarding_customer)), waiting)
    assert "the exception “Unmapped status” in the Success queue (due in " in text
    assert exception_link(exception) in note and "store_slug" not in note


def test_operations_see_that_an_order_waits_but_nothing_of_the_exception(client_for, operations,
                                                                          onboarding_customer):
    waiting, _ = wait_on_unmapped(onboarding_customer)
    client = client_for(operations)
    client.get(screen(onboarding_customer))

    with CaptureQueriesContext(connection) as queries:
        text, note = waiting_note(client.get(screen(onboarding_customer)), waiting)

    assert text == ("Waiting for a status mapping: the shop's status “shipped” means nothing to the console yet. "
                    "A manager maps it in Status mappings.")
    assert "<a " not in note
    assert not any("subject_key" in q["sql"] for q in queries), "operations never read exceptions"


def test_the_note_goes_once_a_manager_maps_the_status_from_its_link(client_for, manager, onboarding_customer, store):
    waiting, exception = wait_on_unmapped(onboarding_customer)
    client = client_for(manager)
    _, note = waiting_note(client.get(screen(onboarding_customer)), waiting)
    map_url = html_lib.unescape(re.search(r'href="([^"]*)"[^>]*data-map-status', note)[1])

    # the link opens the add form with the store and the status filled in
    form = client.get(map_url)
    assert form.status_code == 200
    initial = form.context["adminform"].form.initial
    assert (initial["store"], initial["raw_status"]) == (store.pk, "shipped")
    client.post(reverse("admin:integrations_statusmapping_add"),
                {"store": store.pk, "raw_status": "shipped", "canonical": "shipped"})
    assert StatusMapping.objects.get(store=store).canonical == "shipped"

    response = client.get(screen(onboarding_customer))

    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED
    row = order_rows(response)[waiting.number]
    assert (row.order.state, row.waiting, row.disagreements) == ("shipped", None, [])
    assert waiting_note(response, waiting) is None
    assert "Waiting for a status mapping" not in response.content.decode()


def test_a_closed_exception_tracks_nothing_while_the_status_stays_unmapped(client_for, manager,
                                                                            onboarding_customer):
    waiting, exception = wait_on_unmapped(onboarding_customer)
    exception_close(exception=exception, actor=Actor.for_user(manager), reason="The plugin goes away", dismiss=True)

    response = client_for(manager).get(screen(onboarding_customer))
    text, note = waiting_note(response, waiting)

    assert text.endswith("A manager maps it in Status mappings; no open exception tracks it. The exception "
                         "“Unmapped status” was dismissed just now: “The plugin goes away”.")
    assert exception_link(exception) in note, "the closed exception, for its history"
    assert not order_rows(response)[waiting.number].flagged, "nothing owns it: not highlighted"

    # closed more than a week ago, the sentence gives the date
    ExceptionCase.objects.filter(pk=exception.pk).update(closed_at=timezone.now() - datetime.timedelta(days=10))
    exception.refresh_from_db()
    text, _ = waiting_note(client_for(manager).get(screen(onboarding_customer)), waiting)
    closed_at = date_format(timezone.localtime(exception.closed_at), "DATETIME_FORMAT")
    assert text.endswith(f"“Unmapped status” was dismissed on {closed_at}: “The plugin goes away”.")


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_waiting_orders_cost_one_query_whatever_their_number(request, client_for, onboarding_customer, role):
    client = client_for(request.getfixturevalue(role))
    client.get(screen(onboarding_customer))  # warm the session, the content types and the store's mappings

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(screen(onboarding_customer)).status_code == 200
        return len(queries)

    before = count()
    wait_on_unmapped(onboarding_customer, "shipped")
    one = count()
    wait_on_unmapped(onboarding_customer, "ready-for-pickup")
    wait_on_unmapped(onboarding_customer, "shipped")  # a second order on the first status
    three = count()

    assert one == three == before + 1, (before, one, three)
    assert three <= SCREEN_MAX_QUERIES


# --- timeline -------------------------------------------------------------------------------------
def test_timeline_filters_by_source_and_pages(client_for, manager, onboarding_customer):
    client = client_for(manager)
    client.post(move(onboarding_customer), {"transition": "activate"})  # a console event among system ones

    console_only = section(client.get(screen(onboarding_customer) + "?source=console"), "timeline")
    assert console_only.rows and {e.source for e in console_only.rows} == {"console"}
    everything = section(client.get(screen(onboarding_customer)), "timeline")
    assert {e.source for e in everything.rows} >= {"console", "system"}

    for n in range(EVENTS_PER_PAGE):
        timeline.record_customer_created(customer=onboarding_customer, actor=SYSTEM)
    first = section(client.get(screen(onboarding_customer)), "timeline")
    second = section(client.get(screen(onboarding_customer) + first.older_url), "timeline")
    assert len(first.rows) == EVENTS_PER_PAGE and second.rows
    assert {e.pk for e in first.rows}.isdisjoint({e.pk for e in second.rows})
    assert "source" not in first.older_url


# --- performance ------------------------------------------------------------------------------------
def grow_history(customer, orders, events):
    start = timezone.now() - datetime.timedelta(days=400)
    for n in range(orders):
        order = make_order(customer, state="paid", raw_status="processing", namespace="main",
                           placed_at=start + datetime.timedelta(days=n))
        make_source_state(order=order, system=System.ERP, raw_status="Completed", observed_at=timezone.now())
    for n in range(events):
        timeline.record_customer_created(customer=customer, actor=Actor.system("bulk"))
    for n in range(3):
        exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key=f"test:{customer.pk}:{n}", summary="Differs",
                        actor=SYSTEM, customer=customer, order=customer.orders.first())


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_query_count_does_not_grow_with_history(request, db, client_for, role):
    user = request.getfixturevalue(role)
    small, large = make_owned_customer(paid=True), make_owned_customer(paid=True)
    grow_history(small, orders=5, events=5)
    grow_history(large, orders=60, events=60)
    client = client_for(user)
    client.get(screen(small))  # warm the session and the content-type cache

    counts = []
    for customer in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(screen(customer)).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1], counts
    assert counts[1] <= SCREEN_MAX_QUERIES, counts


def test_bounded_queries_with_django_assert(client_for, manager, django_assert_max_num_queries):
    customer = make_owned_customer(paid=True)
    grow_history(customer, orders=60, events=60)
    client = client_for(manager)
    client.get(screen(customer))

    with django_assert_max_num_queries(SCREEN_MAX_QUERIES):
        client.get(screen(customer) + "?source=system")


def test_a_prospect_without_orders_or_owner_renders(client_for, manager):
    prospect = make_customer()

    response = client_for(manager).get(screen(prospect))

    assert response.status_code == 200
    assert "Nobody owns this customer yet" in response.content.decode()
    assert "No orders yet." in response.content.decode()


def test_full_history_links_open_filtered_admin_lists(client_for, manager, onboarding_customer):
    make_owned_customer(paid=True)  # another customer's handoffs must not show
    client = client_for(manager)
    context = client.get(screen(onboarding_customer)).context

    for link in (context["handoffs_url"], context["exceptions_url"]):
        response = client.get(link)
        assert response.status_code == 200, link  # a refused lookup would redirect with ?e=1
        shown = set(response.context["cl"].queryset.values_list("customer_id", flat=True))
        assert shown <= {onboarding_customer.pk}, link
