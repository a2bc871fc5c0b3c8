"""The customer screen's health section: the score and band, each component's points said in a
sentence (missing ones as missing, never as healthy), the trend as an inline sparkline, the policy
version; read with the customer in the screen's own query."""

import re

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise
from tests.factories import make_customer
from tests.lifecycle.health_support import TASK, paid_customer, recompute

pytestmark = pytest.mark.django_db


def _screen(client, customer):
    return client.get(reverse("console:customer", args=[customer.pk]))


def _health_html(response):
    page = response.content.decode()
    return re.search(r'<section id="health".*?</section>', page, re.S).group(0)


def test_a_scored_customer_shows_score_band_and_each_component_in_a_sentence(client_for, support_agent):
    # Given a paying customer with two open problems, scored today
    customer = paid_customer()
    for n, kind in enumerate([ExceptionKind.STATE_MISMATCH, ExceptionKind.PAYMENT_PROBLEM]):
        exception_raise(kind=kind, subject_key=f"screen:{n}", summary="A problem", customer=customer, actor=TASK)
    score = recompute(customer)

    # When their team's agent opens the screen
    html = _health_html(_screen(client_for(support_agent), customer))
    text = " ".join(strip_tags(html).split())

    # Then the score, its band, and every component with its points or as missing
    assert f'data-health-score="{score.score}"' in html and "optimize" in text.lower()
    assert "below 40 intervene, above 70 expand" in text
    assert "under health policy version 1" in text
    assert "Repeat paid orders 0 of 41.7 points No repeat paid order yet (1 paid order in all)." in text
    assert "Open exceptions 8.3 of 25 points 2 open exceptions (each costs a third)." in text
    assert "Recent activity 16.7 of 16.7 points Last activity today (counts in full for 14 days, nothing after 120)." \
        in text
    assert "Journey steps on time missing Missing: no step of a first-30-days journey has come due, so the journey " \
        "does not count." in text
    assert html.count('data-missing="1"') == 2  # delivery and journey: said missing, not scored as healthy
    assert "2 components have no data: they do not count, and the others share their points." in text


def test_the_trend_is_an_inline_sparkline_of_the_last_scores(client_for, manager):
    customer = paid_customer()
    recompute(customer)
    exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key="trend", summary="A problem", customer=customer,
                    actor=TASK)
    recompute(customer)

    html = _health_html(_screen(client_for(manager), customer))

    assert "<svg" in html and "<polyline" in html and "cdn" not in html.lower()
    assert re.search(r"Scores, oldest first: 58, 50", html)


def test_a_customer_without_orders_has_no_score_and_one_waiting_for_it_says_when(client_for, manager):
    prospect = make_customer()
    assert "No health score: the customer has no order yet." in _health_html(_screen(client_for(manager), prospect))
    waiting = paid_customer()  # its first order: the follower scores it within a minute
    assert "Not scored yet" in _health_html(_screen(client_for(manager), waiting))
