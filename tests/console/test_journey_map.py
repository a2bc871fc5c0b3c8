"""The journey map's figures (per step, per team, per weekly cohort, where customers went silent), its
page for managers only, and the dashboard's journey completion card."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from lifecycle.selectors.journeys import completion, journey_map
from tests.lifecycle.journey_support import crm_activity, follow, paid_customer, ship, sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_journeys():
    """Three customers paid 10 days ago: A emailed on time and shipped late; B emailed twice (a duplicate)
    and never shipped; C refunded (its journey ended early). Then the beat's follower and sweep ran."""
    a, a_order, paid_a = paid_customer(days_ago=10)
    b, _, paid_b = paid_customer(days_ago=10)
    c, c_order, _ = paid_customer(days_ago=10)
    crm_activity(a, "email", paid_a + timedelta(hours=12))
    crm_activity(b, "email", paid_b + timedelta(hours=12))
    crm_activity(b, "email", paid_b + timedelta(hours=36))
    ship(a_order, "shipped")
    ship(c_order, "refunded", source="shop")
    follow()
    sweep()
    return a, b, c


def _by(rows, key, value):
    return next(row for row in rows if row[key] == value)


def test_per_step_and_per_team_counts(three_journeys):
    data = journey_map(now=timezone.now())

    assert data.playbook.name == "First 30 days" and data.journeys == 3
    assert [s["key"] for s in data.steps][:3] == ["order_confirmation", "welcome_email", "shipping_notice"]
    figures = {s["key"]: {k: s[k] for k in ("on_time", "late", "missed", "duplicated", "upcoming", "skipped")}
               for s in data.steps}
    assert figures["order_confirmation"] == dict(on_time=3, late=0, missed=0, duplicated=0, upcoming=0, skipped=0)
    assert figures["welcome_email"] == dict(on_time=2, late=0, missed=0, duplicated=1, upcoming=0, skipped=1)
    assert figures["shipping_notice"] == dict(on_time=0, late=1, missed=1, duplicated=0, upcoming=0, skipped=1)
    assert figures["onboarding_check"] == dict(on_time=0, late=0, missed=2, duplicated=0, upcoming=0, skipped=1)
    assert figures["review_request"] == dict(on_time=0, late=0, missed=0, duplicated=0, upcoming=2, skipped=1)
    marketing = _by(data.teams, "team", "Marketing")  # the welcome email and the review request
    assert (marketing["on_time"], marketing["duplicated"], marketing["upcoming"], marketing["skipped"]) == (2, 1, 2, 2)


def test_weekly_cohorts_and_where_customers_went_silent(three_journeys):
    data = journey_map(now=timezone.now())

    [cohort] = data.cohorts
    assert (cohort["journeys"], cohort["completed"], cohort["exited"]) == (3, 0, 1)
    assert cohort["week"].weekday() == 0  # the Monday of the payment's week
    assert cohort["by_step"]["welcome_email"] == 1.0  # both due ones on time (C's was skipped)
    assert cohort["by_step"]["onboarding_check"] == 0.0
    assert cohort["by_step"].get("value_review") is None  # nothing due yet
    silent = {row["after"]: row["journeys"] for row in data.abandoned}
    assert silent == {"Order confirmation": 1, "Welcome & onboarding email": 1, "Shipping notice": 1}
    assert data.silent == 3


def test_the_dashboard_card_counts_journeys_and_steps_due_in_30_days(three_journeys):
    figures = completion(timezone.now())
    assert (figures["running"], figures["completed"], figures["exited"]) == (2, 0, 1)
    assert (figures["due"], figures["on_time"], figures["late"], figures["missed"]) == (11, 5, 1, 5)
    assert figures["completion_rate"] == 0 and round(figures["on_time_rate"], 2) == 0.45


def test_the_map_is_a_managers_page_with_its_charts_and_numbers(client_for, manager, support_agent, three_journeys):
    page = client_for(manager).get(reverse("console:journey_map"))
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('class="chart"') == 4
    assert 'data-figures="steps"' in body and 'data-figures="cohort-steps"' in body
    assert "Welcome &amp; onboarding email" in body and "3 journeys started since" in body
    assert client_for(support_agent).get(reverse("console:journey_map")).status_code == 403


def test_the_dashboard_links_the_map(client_for, manager, fresh_dashboard, three_journeys):
    body = client_for(manager).get(reverse("console:dashboard")).content.decode()
    assert 'id="journey-completion"' in body and reverse("console:journey_map") in body


def test_an_empty_period_says_so(client_for, manager):
    body = client_for(manager).get(reverse("console:journey_map") + "?weeks=4").content.decode()
    assert "No journey of this playbook started in this period." in body
