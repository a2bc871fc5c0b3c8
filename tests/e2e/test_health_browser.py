"""Health where people look, in a real browser: the manager reads a customer's score, band, each
component's points and the sparkline, publishes a new policy version from the admin and sees the
score recomputed under it, and reads the dashboard's bands and team lists; an agent and operations
read the same health section. Screenshots land in var/test-artifacts/."""

import re

import pytest
from django.apps import apps
from django.core.cache import cache

from lifecycle.health_defaults import install_health_defaults
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.health import health_recompute_all
from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import make_agent, make_user
from tests.lifecycle.health_support import TASK, paid_customer, recompute

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people():
    install_health_defaults(apps)  # the flushed database lost the policy's permissions with its groups'
    make_user("maren", group="Manager", first_name="Maren", last_name="Holt")
    make_agent(make_user("sam", group="Support agent", first_name="Sam", last_name="Rivera"),
               teams=["support", "success", "commerce"])
    make_user("olli", group="Operations", first_name="Olli", last_name="Ops")


def test_health_where_people_look(page, login, artifacts, people):
    # Given Ada, onboarding after one paid order, scored once, then a problem opened and scored again
    ada = paid_customer(name="Ada Lovelace", email="ada@example.com")
    recompute(ada)
    exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key="ada", summary="Shop and ERP disagree",
                    customer=ada, actor=TASK)
    recompute(ada)

    # When the manager opens her screen
    login("maren")
    page.goto(f"/console/customers/{ada.pk}/")
    health = page.locator("section#health")

    # Then the score, its band, each component's points in words, the missing ones said so, the trend
    expect(health.locator("[data-health-score]")).to_have_text("50")
    expect(health).to_contain_text("optimize")
    expect(health.locator('[data-component="open_exceptions"]')).to_contain_text("16.7 of 25 points")
    expect(health.locator('[data-component="open_exceptions"]')).to_contain_text("1 open exception")
    expect(health.locator('[data-component="on_time_delivery"]')).to_contain_text("missing")
    expect(health.locator("svg[data-sparkline] polyline")).to_have_count(1)
    expect(health).to_contain_text("under health policy version 1")
    health.screenshot(path=str(artifacts / "health-section-manager.png"))

    # When she publishes a new policy that weighs open problems more
    page.goto("/admin/lifecycle/healthpolicy/")
    page.get_by_role("link", name="Health policy v1").click()
    page.fill("#id_weight_open_exceptions", "45")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("body")).to_contain_text("Version 2 published")
    health_recompute_all(actor=TASK)  # what the queued task does in the worker

    # Then Ada's score is recomputed under version 2
    page.goto(f"/console/customers/{ada.pk}/")
    expect(health).to_contain_text("under health policy version 2")
    expect(health.locator('[data-component="open_exceptions"]')).to_contain_text("of 50 points")

    # And the dashboard counts her band; no team has a customer at risk or to expand
    cache.clear()
    page.goto("/console/dashboard/")
    bands = page.locator("#health-distribution")
    expect(bands.locator('tr[data-figure="Optimize"]')).to_contain_text("1")
    expect(page.locator("#health-teams")).to_contain_text("No team has an expansion candidate or a customer at risk.")
    bands.screenshot(path=str(artifacts / "health-dashboard.png"))

    # And an agent of her team and operations read the same section
    for user in ("sam", "olli"):
        page.context.clear_cookies()
        login(user)
        page.goto(f"/console/customers/{ada.pk}/")
        expect(page.locator("section#health [data-health-score]")).to_have_text(re.compile(r"\d+"))
        expect(page.locator("section#health")).to_contain_text("1 open exception")
