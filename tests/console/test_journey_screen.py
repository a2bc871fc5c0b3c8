"""The customer screen's journey strip, marking a step done from it, and the agent home's overdue steps."""

import re

import pytest
from django.urls import reverse

from lifecycle.models import StepState, Team
from tests.factories import make_agent, make_customer
from tests.lifecycle.journey_support import paid_customer, step, sweep

pytestmark = pytest.mark.django_db


def _screen(customer):
    return reverse("console:customer", args=[customer.pk])


def _mark_url(customer, key):
    return reverse("console:customer_journey_step", args=[customer.pk, step(customer, key).pk])


def _cards(page):
    """{step key: its status} as the strip shows them."""
    return dict(re.findall(r'data-step="([a-z_]+)" data-status="([a-z]+)"', page))


def test_the_strip_shows_each_step_with_its_status_team_and_due_time(client_for, manager):
    customer, _, _ = paid_customer(days_ago=3)
    sweep()

    page = client_for(manager).get(_screen(customer)).content.decode()

    assert _cards(page) == {"order_confirmation": "missed", "welcome_email": "missed", "shipping_notice": "missed",
                            "delivery_check_in": "upcoming", "onboarding_check": "upcoming",
                            "review_request": "upcoming", "value_review": "upcoming"}
    assert "First 30 days" in page and "0 of 7 steps done" in page
    assert "it waits in Marketing's queue" in page
    assert "Done when the order was completed, delivered or shipped." in page  # the shipping notice
    # a manager may mark every step that takes a mark, not the shipping notice (its signal is the order's)
    assert page.count("Mark done") >= 2 * 6 - 1 and f'action="{_mark_url(customer, "shipping_notice")}"' not in page


def test_a_customer_without_a_journey_says_when_it_starts(client_for, manager):
    page = client_for(manager).get(_screen(make_customer())).content.decode()
    assert "No journey yet: the first 30 days start when a first order is paid." in page


def test_an_agent_marks_a_step_of_their_team_done_from_the_strip(client_for):
    customer, _, _ = paid_customer()
    agent = make_agent(teams=["success"])  # customers in onboarding belong to success: agents see them
    client = client_for(agent.user)

    response = client.post(_mark_url(customer, "onboarding_check"), {"comment": "Setup call done"})

    assert response.status_code == 302 and response["Location"].endswith(f"#step-{step(customer, 'onboarding_check').pk}")
    assert step(customer, "onboarding_check").state == StepState.DONE
    page = client.get(_screen(customer)).content.decode()
    assert _cards(page)["onboarding_check"] == "done"
    assert "Onboarding check: marked done." in page
    assert "Marked done by" in page and "Setup call done" in page


def test_refusals_say_why_and_whom_to_ask(client_for, manager):
    success = Team.objects.get(slug="marketing")
    success.manager = manager
    success.save()
    customer, _, _ = paid_customer()
    agent = make_agent(teams=["success"])
    client = client_for(agent.user)

    page = client.get(_screen(customer)).content.decode()
    assert ("Only Marketing&#x27;s agents or a manager can mark “Welcome &amp; onboarding email” done: ask "
            "manager (Marketing&#x27;s manager).") in page

    refused = client.post(_mark_url(customer, "welcome_email"), {"comment": "sent"}, follow=True).content.decode()
    assert "Only Marketing&#x27;s agents or a manager can mark" in refused
    empty = client.post(_mark_url(customer, "onboarding_check"), {"comment": ""}, follow=True).content.decode()
    assert "marking a step done needs a comment" in empty
    assert step(customer, "welcome_email").state == step(customer, "onboarding_check").state == StepState.PENDING


def test_another_teams_customer_answers_as_the_screen_does(client_for):
    customer, _, _ = paid_customer()
    outsider = make_agent(teams=["sales"])
    response = client_for(outsider.user).post(_mark_url(customer, "onboarding_check"), {"comment": "x"})
    assert response.status_code in (403, 404)
    assert step(customer, "onboarding_check").state == StepState.PENDING


def test_the_agent_home_lists_my_teams_overdue_steps(client_for):
    customer, _, _ = paid_customer(days_ago=3)
    sweep()
    marketing = make_agent(teams=["marketing"])

    page = client_for(marketing.user).get(reverse("console:home_queue")).content.decode()

    assert 'id="my-overdue-steps"' in page
    assert f'data-step="{step(customer, "welcome_email").pk}"' in page
    assert f'data-step="{step(customer, "shipping_notice").pk}"' not in page  # commerce's
    assert f"#step-{step(customer, 'welcome_email').pk}" in page
