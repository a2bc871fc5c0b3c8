"""The console in a real browser (Debian's Chromium through Playwright, against the live server):
an agent finds a customer by order number from the header search box, claims and resolves an
exception from the customer screen; a manager reassigns a queue from the dashboard. Screenshots of
both pages land in var/test-artifacts/."""

import re

import pytest
from django.core.cache import cache

from lifecycle.models import ExceptionCase, ExceptionKind, ExceptionStatus, Handoff, Ownership, Stage
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import exception_assign
from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import SYSTEM, make_agent, make_customer, make_order, make_owned_customer, make_user, team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _payment_problem(customer, order, summary="Card declined twice"):
    """A payment problem on the order: it goes to the commerce queue (DOMAIN.md)."""
    exception, _ = exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{order.pk}",
                                   summary=summary, actor=SYSTEM, customer=customer, order=order)
    return exception


def test_agent_finds_a_customer_by_order_number_then_claims_and_resolves_an_exception(page, login, artifacts):
    # Given Ada, onboarding after a paid WooCommerce order (routing gives her to the success team and
    # its least loaded agent, Sam), with a payment problem in the commerce queue (Sam's team too)
    user = make_user("sam", group="Support agent", first_name="Sam", last_name="Rivera")
    sam = make_agent(user, teams=["support", "success", "commerce"])
    ada = make_customer(name="Ada Lovelace", email="ada@example.com")
    order = make_order(ada, number="700123", state="paid", raw_status="processing", namespace="main")
    ada.refresh_from_db()
    assert ada.stage == Stage.ONBOARDING
    ownership = Ownership.objects.select_related("team", "agent").get(customer=ada)
    assert (ownership.team, ownership.agent) == (team("success"), sam)
    rule = Handoff.objects.filter(customer=ada).latest("created_at").rule
    problem = _payment_problem(ada, order)
    assert problem.queue == team("commerce") and problem.status == ExceptionStatus.OPEN

    # When Sam logs in and types the order number in the header's search box
    login("sam")
    page.fill("#customer-search", "700123")
    page.press("#customer-search", "Enter")

    # Then the one match opens Ada's screen, with her owner and her open exception
    page.wait_for_url(re.compile(rf"/console/customers/{ada.pk}/$"))
    expect(page.get_by_role("heading", name="Ada Lovelace", exact=True)).to_be_visible()
    owner = page.locator("section#owner")
    expect(owner.locator("dd").nth(0)).to_have_text("Success")
    expect(owner.locator("dd").nth(1)).to_have_text("Sam Rivera")
    expect(owner).to_contain_text("Least loaded in Success")  # the routing decision, in words
    expect(owner.locator(f'[title="{rule}"]').first).to_be_visible()  # its rule label on hover
    exceptions = page.locator("section#exceptions")
    row = exceptions.locator(f'tr[data-exception="{problem.pk}"]')
    expect(row).to_contain_text("Card declined twice")
    expect(row).to_contain_text("#700123")
    expect(row).to_contain_text("Commerce")
    expect(row).to_contain_text("due in")
    expect(row.get_by_role("button", name="Claim")).to_be_visible()
    page.screenshot(path=str(artifacts / "customer-screen.png"), full_page=True)

    # When Sam claims it
    row.get_by_role("button", name="Claim").click()

    # Then it is Sam's, in progress, on the page and in the database
    expect(page.locator("body")).to_contain_text(f"Claimed: {problem}")
    expect(row).to_contain_text("In progress")
    expect(row).to_contain_text("Sam Rivera")
    expect(row.get_by_role("button", name="Release")).to_be_visible()
    problem.refresh_from_db()
    assert problem.status == ExceptionStatus.IN_PROGRESS and problem.assignee == sam

    # When Sam resolves it, saying what fixed it (the form asks for a reason)
    row.locator("summary", has_text="Resolve").click()
    resolve = row.locator("form:has(input[name=action][value=resolve])")
    resolve.locator("textarea[name=reason]").fill("Customer paid by bank transfer")
    resolve.get_by_role("button", name="Resolve").click()

    # Then it leaves the open list for the history, and the database agrees
    expect(page.locator("body")).to_contain_text(f"Resolved: {problem}")
    expect(row).to_have_count(0)
    expect(exceptions).to_contain_text("No open exception.")
    closed = exceptions.locator(f'[data-closed-exception="{problem.pk}"]')
    expect(closed).to_contain_text("resolved")
    expect(closed).to_contain_text("Customer paid by bank transfer")
    problem.refresh_from_db()
    assert problem.status == ExceptionStatus.RESOLVED
    assert problem.resolution_reason == "Customer paid by bank transfer"
    assert problem.assignee == sam and problem.closed_at is not None
    assert page.js_errors == []


def test_manager_moves_one_agents_queue_items_to_another_from_the_dashboard(page, login, artifacts):
    # Given Ana holds three exceptions of the commerce queue and Ben, in the same team, none
    cache.clear()  # the dashboard caches its figures (same process as the live server)
    make_user("boss", group="Manager", first_name="Mia", last_name="Boss")
    ana = make_agent(make_user("ana", group="Support agent", first_name="Ana", last_name="Lopez"), teams=["commerce"])
    ben = make_agent(make_user("ben", group="Support agent", first_name="Ben", last_name="Okafor"), teams=["commerce"])
    commerce = team("commerce")
    held = []
    for _ in range(3):
        customer = make_owned_customer()
        item = _payment_problem(customer, customer.orders.get())
        assert item.queue == commerce
        held.append(exception_assign(exception=item, agent=ana, actor=SYSTEM))
    assert ExceptionCase.objects.filter(assignee=ana, status=ExceptionStatus.IN_PROGRESS).count() == 3

    # When the manager logs in, opens the dashboard and moves Ana's commerce items to Ben
    login("boss")
    page.goto("/console/dashboard/")
    expect(page.locator("#figure-without-owner")).to_be_visible()
    block = page.locator(f"#team-{commerce.pk}")
    expect(block.locator(f'tr[data-agent="{ana.pk}"] td').nth(1)).to_have_text("3")
    expect(block.locator(f'tr[data-agent="{ben.pk}"] td').nth(1)).to_have_text("0")
    block.locator("select[name=from_agent]").select_option(str(ana.pk))
    block.locator("select[name=to_agent]").select_option(str(ben.pk))
    block.get_by_role("button", name="Reassign").click()

    # Then the page reports it, the queue table shows Ben holding them, and the database agrees
    page.wait_for_url(re.compile(rf"/console/dashboard/#team-{commerce.pk}$"))
    expect(page.locator("body")).to_contain_text("Commerce: moved 3 exception(s) from Ana Lopez to Ben Okafor.")
    expect(block.locator(f'tr[data-agent="{ben.pk}"] td').nth(1)).to_have_text("3")
    expect(block.locator(f'tr[data-agent="{ana.pk}"] td').nth(1)).to_have_text("0")
    page.evaluate("window.scrollTo(0, 0)")  # from the #team anchor: the sticky sidebar back at the top
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert set(ExceptionCase.objects.filter(assignee=ben).values_list("pk", flat=True)) == {i.pk for i in held}
    assert not ExceptionCase.objects.filter(assignee=ana).exists()
    assert page.js_errors == []
