"""The dashboard's bar charts show their numbers, and the managers' queue has its own card."""

import html
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import OPEN_STATUSES, ExceptionCase
from lifecycle.services.exceptions import exception_raise
from tests.factories import make_agent, make_owned_customer, team

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_dashboard")]
DASHBOARD = reverse("console:dashboard")
SYSTEM = Actor.system("tests")





def _exception(queue, kind="payment_problem", **update):
    """An open exception in `queue` (a team slug, or None: the managers' queue)."""
    customer = make_owned_customer()
    item, _ = exception_raise(kind=kind, subject_key=f"customer:{customer.pk}", summary="problem", customer=customer,
                              actor=SYSTEM)
    ExceptionCase.objects.filter(pk=item.pk).update(queue=team(queue) if queue else None, **update)
    item.refresh_from_db()
    return item


def _charts(page):
    """The data of each bar chart on the page, in page order."""
    return [json.loads(html.unescape(value)) for value in re.findall(r'class="chart"[^>]*data-value="([^"]*)"', page)]


def _table(page, name):
    """{row label: ([figures], link or None)} of the figures table under a chart."""
    body = re.search(rf'data-figures="{name}".*?</table>', page, re.S).group(0)
    rows = {}
    for label, cells in re.findall(r'<tr data-figure="([^"]*)">(.*?)</tr>', body, re.S):
        values = re.findall(r'text-right[^>]*>([^<]*)</td>', cells)
        link = re.search(r'href="([^"]*)"', cells)
        rows[html.unescape(label)] = ([int(v) for v in values], html.unescape(link.group(1)) if link else None)
    return rows


def _listed(client, link):
    """How many exceptions the list behind a link shows."""
    return client.get(link).context["cl"].result_count


def _card(page):
    return re.search(r'id="figure-managers-queue".*?</a>\s*</div>', page, re.S).group(0)


def _text(fragment):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


# --- every bar chart shows its numbers -------------------------------------------------------------
def test_each_bar_chart_has_a_table_of_the_numbers_it_draws(staffed_manager_client):
    # Given open exceptions of two kinds, in two queues, of three ages
    now = timezone.now()
    _exception("commerce", opened_at=now - timedelta(hours=2))
    _exception("commerce", opened_at=now - timedelta(days=2))
    _exception("support", kind="duplicate_customer", opened_at=now - timedelta(days=40))

    page = staffed_manager_client.get(DASHBOARD).content.decode()
    kinds_chart, queues_chart, ages_chart, *_others = _charts(page)

    # Then the figures under the kinds chart are the bars' numbers, by name
    kinds = _table(page, "kinds")
    assert {label: values for label, (values, _) in kinds.items()} == {
        label: [n] for label, n in zip(kinds_chart["labels"], kinds_chart["datasets"][0]["data"], strict=True)}
    assert kinds["Payment problem"][0] == [2] and kinds["Duplicate customer"][0] == [1]

    # and those of the queues chart give open and unassigned per queue, the managers' queue included
    queues = _table(page, "queues")
    assert list(queues) == queues_chart["labels"]
    assert queues["Commerce"][0] == [2, 2] and queues["Support"][0] == [1, 1] and queues["Managers"][0] == [0, 0]

    # and those of the ages chart, per age bucket
    ages = _table(page, "ages")
    assert list(ages) == ages_chart["labels"]
    assert [values for values, _ in ages.values()] == [[1], [1], [0], [0], [1]]


def test_a_figure_links_to_the_exceptions_it_counts(staffed_manager_client):
    _exception("commerce")
    _exception("commerce")
    _exception("support", kind="duplicate_customer")
    page = staffed_manager_client.get(DASHBOARD).content.decode()
    # When the manager follows a kind's or a queue's figure, the list shows exactly those exceptions
    values, link = _table(page, "kinds")["Payment problem"]
    assert _listed(staffed_manager_client, link) == values[0] == 2
    values, link = _table(page, "queues")["Support"]
    assert _listed(staffed_manager_client, link) == values[0] == 1


# --- the managers' queue -----------------------------------------------------------------------------
def test_the_managers_queue_card_counts_what_waits_what_is_late_and_how_long_the_oldest_waited(staffed_manager_client):
    # Given three open exceptions in the managers' queue: one breached, one past due that the sweep
    # has not marked yet, one within its SLA and opened 2 days 3 hours ago (the oldest)
    now = timezone.now()
    _exception(None, breached_at=now - timedelta(hours=1), due_at=now - timedelta(hours=1),
               opened_at=now - timedelta(hours=5))
    _exception(None, due_at=now - timedelta(minutes=10), opened_at=now - timedelta(hours=3))
    _exception(None, due_at=now + timedelta(hours=4), opened_at=now - timedelta(days=2, hours=3))
    # and, not in it: one in a team's queue, and a closed one that was the managers'
    _exception("commerce", opened_at=now - timedelta(days=9))
    _exception(None, status="resolved", closed_at=now, opened_at=now - timedelta(days=20))
    # And one of the three is assigned to someone
    holder = make_agent(teams=["commerce"])
    ExceptionCase.objects.filter(queue__isnull=True, status__in=OPEN_STATUSES).filter(
        due_at__gt=now).update(assignee=holder)

    # When the manager opens the dashboard
    page = staffed_manager_client.get(DASHBOARD).content.decode()
    card = _card(page)

    # Then the card reads 3 open, 2 past their SLA (shown in red), 2 unassigned, the oldest 2d 3h old
    assert re.search(r'text-4xl[^>]*>\s*3\s*<', card)
    text = _text(card)
    assert "2 past their SLA · 2 unassigned" in text
    assert "The oldest has waited 2d 3h (opened" in text
    assert "bg-red-50" in card and "text-red-600" in card
    # and its link opens the managers' queue, listing the same three
    link = html.unescape(re.search(r'href="([^"]*)"', card).group(1))
    assert link == reverse("admin:lifecycle_exceptioncase_changelist") + "?view=managers"
    assert _listed(staffed_manager_client, link) == 3


def test_an_empty_managers_queue_says_nothing_waits(staffed_manager_client):
    _exception("commerce")
    card = _card(staffed_manager_client.get(DASHBOARD).content.decode())
    assert re.search(r'text-4xl[^>]*>\s*0\s*<', card)
    text = _text(card)
    assert "0 past their SLA · 0 unassigned" in text and "Nothing waits here." in text
    assert "bg-red-50" not in card
