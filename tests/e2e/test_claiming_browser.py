"""The assignment loop in a browser, on the demo: with every Commerce agent at capacity a new
customer waits for an agent; Alex (the demo's agent) sees it on his home, claims it, and lands on
the customer's screen as its agent. Screenshots land in var/test-artifacts/."""

import re

import pytest
from django.core.management import call_command

from lifecycle.models import Agent, ExceptionCase, ExceptionKind, Handoff, Ownership
from lifecycle.selectors.routing import agent_loads
from tests.e2e.conftest import (
    expect,  # None without playwright: the browser marker skips/fails first
)
from tests.factories import make_customer, make_order, team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DEMO_PASSWORD = "demo-password-for-tests"


def test_an_agent_claims_a_waiting_customer_from_home_and_sees_it_on_their_screen(page, login, artifacts,
                                                                                   monkeypatch, settings):
    # Given the demo, and Commerce's agents all at capacity
    monkeypatch.setenv("AFTERCARE_DEMO_PASSWORD", DEMO_PASSWORD)
    call_command("seed_demo", customers=40, stdout=open("/dev/null", "w"))
    for load in agent_loads(team("commerce").pk):
        Agent.objects.filter(pk=load.agent_id).update(capacity=load.open_items)
    # When a new customer places an order: nobody in Commerce has room, so they wait, claimable
    customer = make_customer(name="Wanda Waiting", email="wanda@example.com")
    make_order(customer, number="880011", state="pending_payment")
    owner = Ownership.objects.get(customer=customer)
    assert (owner.team, owner.agent) == (team("commerce"), None)
    clock = ExceptionCase.objects.get(kind=ExceptionKind.UNASSIGNED_CUSTOMER, customer=customer)
    assert clock.queue == team("commerce")

    # Then Alex, a Commerce agent, sees her on his home with a Claim button
    login("agent", DEMO_PASSWORD)
    row = page.locator(f'#waiting-customers tr[data-waiting="{customer.pk}"]')
    expect(row).to_contain_text("Wanda Waiting")
    expect(row).to_contain_text("Commerce")
    expect(row).to_contain_text("due in")
    expect(page.locator("#figure-team-no-agent")).to_contain_text("1")
    page.screenshot(path=str(artifacts / "home-waiting-customer.png"), full_page=True)

    # When he claims her
    row.get_by_role("button", name="Claim").click()

    # Then he lands on her screen as her agent, the claim named in the owner history
    page.wait_for_url(re.compile(rf"/console/customers/{customer.pk}/$"))
    expect(page.locator("body")).to_contain_text("Wanda Waiting is yours now.")
    section = page.locator("section#owner")
    expect(section.locator("dd").nth(0)).to_have_text("Commerce")
    expect(section.locator("dd").nth(1)).to_have_text("Alex Meyer")
    expect(section).to_contain_text("Claimed by the agent")
    expect(section).to_contain_text("Claimed from the customers waiting in Commerce")
    page.screenshot(path=str(artifacts / "customer-claimed.png"), full_page=True)
    # and the database agrees: a handoff by Alex, the clock resolved
    handoff = Handoff.objects.filter(customer=customer).latest("created_at")
    assert (handoff.rule, handoff.actor_user.username) == ("claim", "agent")
    clock.refresh_from_db()
    assert clock.status == "resolved"
    # and his home no longer lists her
    page.goto("/console/")
    expect(page.locator(f'tr[data-waiting="{customer.pk}"]')).to_have_count(0)
