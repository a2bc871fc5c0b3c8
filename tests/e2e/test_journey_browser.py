"""The first 30 days in a browser: an agent finds an overdue step of their team on their home, opens it on
the customer's journey strip and marks it done with a comment (late, since it was missed); a step of
another team says whom to ask; the manager reads it on the dashboard's card and the journey map's charts;
operations read the strip without marks. Screenshots land in var/test-artifacts/."""

import re

import pytest

from lifecycle.models import StepState, Team
from tests.e2e.conftest import (
    expect,  # None without playwright: the browser marker skips/fails first
)
from tests.factories import make_agent, make_user
from tests.lifecycle.journey_support import paid_customer, step, sweep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_catches_up_a_missed_step_and_the_manager_sees_it_on_the_map(page, login, artifacts):
    # Given Alex of Success, Sofía who manages Marketing, and a customer who paid ten days ago
    alex = make_agent(make_user("alex", group="Support agent", first_name="Alex", last_name="Meyer"),
                      teams=["success"])
    sofia = make_user("sofia", group="Manager", first_name="Sofía", last_name="Ibáñez")
    Team.objects.filter(slug="marketing").update(manager=sofia)
    make_user("ops", group="Operations")
    customer, _, _ = paid_customer(days_ago=10)
    sweep()  # the beat: what is overdue is missed, and its team's queue has it
    check = step(customer, "onboarding_check")
    assert check.state == StepState.MISSED

    # When Alex opens his home, the missed onboarding check is his team's to catch up
    login(alex.user.username)
    row = page.locator(f'#my-overdue-steps tr[data-step="{check.pk}"]')
    expect(row).to_contain_text("Onboarding check")
    expect(row).to_contain_text(str(customer))
    page.screenshot(path=str(artifacts / "journey-home-overdue-steps.png"), full_page=True)
    row.get_by_role("link", name="Onboarding check").click()

    # Then the customer's strip shows the step missed, in Success's queue, with "Mark done"
    page.wait_for_url(re.compile(rf"/console/customers/{customer.pk}/#step-{check.pk}$"))
    card = page.locator(f'li[data-step="onboarding_check"]')
    expect(card).to_have_attribute("data-status", "missed")
    expect(card).to_contain_text("it waits in Success's queue")
    # and a step of Marketing says whom to ask instead
    welcome = page.locator('li[data-step="welcome_email"]')
    expect(welcome.locator("[data-refusal]")).to_contain_text(
        "Only Marketing's agents or a manager can mark “Welcome & onboarding email” done: ask Sofía Ibáñez "
        "(Marketing's manager).")

    # When he marks it done with what he did
    card.locator("summary", has_text="Mark done").click()
    card.locator("textarea[name=comment]").fill("Setup call: all running, no open questions")
    card.get_by_role("button", name="Mark done").click()

    # Then it is done late, the exception his team had is resolved, and the strip says so
    page.wait_for_url(re.compile(rf"/console/customers/{customer.pk}/#step-{check.pk}$"))
    expect(page.locator("body")).to_contain_text("Onboarding check: marked done late.")
    card = page.locator('li[data-step="onboarding_check"]')
    expect(card).to_have_attribute("data-status", "late")
    expect(card).to_contain_text("Marked done by Alex Meyer: Setup call: all running, no open questions")
    assert customer.exceptions.get(subject_key=f"journey_step:{check.pk}").status == "resolved"
    page.locator("section#journey").screenshot(path=str(artifacts / "journey-strip-marked-late.png"))

    # When Sofía opens the dashboard, the journey card leads to the map
    page.context.clear_cookies()
    login("sofia")
    page.goto("/console/dashboard/")
    expect(page.locator("#journey-completion")).to_contain_text("Running journeys")
    page.locator("[data-journey-map-link]").click()
    page.wait_for_url(re.compile(r"/console/journeys/$"))
    # Then the map draws its charts (Unfold's bundled Chart.js) with the numbers under them: per step, team
    # and cohort; nobody went silent (the last step done, the onboarding check, comes after every missed one)
    expect(page.locator("canvas")).to_have_count(3)
    expect(page.locator("[data-no-silence]")).to_be_visible()
    steps = page.locator('table[data-figures="steps"] tr[data-figure="Onboarding check"]')
    expect(steps.locator("td").nth(2)).to_have_text("1")  # late
    assert not page.js_errors, page.js_errors
    page.screenshot(path=str(artifacts / "journey-map.png"), full_page=True)

    # And operations read the strip, with no mark to make
    page.context.clear_cookies()
    login("ops")
    page.goto(f"/console/customers/{customer.pk}/")
    strip = page.locator("section#journey")
    expect(strip.locator('li[data-step="onboarding_check"]')).to_have_attribute("data-status", "late")
    expect(strip.locator("summary", has_text="Mark done")).to_have_count(0)
    strip.screenshot(path=str(artifacts / "journey-strip-operations.png"))
