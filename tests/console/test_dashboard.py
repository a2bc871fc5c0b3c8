"""The manager dashboard: figures on a known dataset, who may see it, and queue work through the services."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Handoff, Ownership, TimelineEvent
from lifecycle.selectors import metrics
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import exception_assign
from tests.factories import (
    make_agent,
    make_customer,
    make_order,
    make_owned_customer,
    make_user,
    team,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_dashboard")]
DASHBOARD = reverse("console:dashboard")
REBALANCE = reverse("console:dashboard_rebalance")
REASSIGN = reverse("console:dashboard_reassign")
SYSTEM = Actor.system("tests")


def _reads(captured):
    """The reads among captured queries (not the savepoints and the JIT setting around them)."""
    return [q["sql"] for q in captured if q["sql"].lstrip().startswith(("SELECT", "WITH"))]



@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def _exception(slug="commerce", kind="payment_problem", **update):
    customer = make_owned_customer()
    item, _ = exception_raise(kind=kind, subject_key=f"customer:{customer.pk}", summary="problem", customer=customer,
                              actor=SYSTEM)
    if slug is not None or update:
        ExceptionCase.objects.filter(pk=item.pk).update(**({"queue": team(slug)} if slug else {}), **update)
    item.refresh_from_db()
    return item


def _figure(page, name):
    match = re.search(rf'id="figure-{name}".*?text-4xl[^>]*>([^<]*)<', page, re.S)
    return match.group(1).strip()


# --- who may see it ----------------------------------------------------------------------------
def test_agents_get_403_and_anonymous_users_the_login_page(client, support_agent):
    assert client.get(DASHBOARD).status_code == 302
    client.force_login(support_agent)
    assert client.get(DASHBOARD).status_code == 403
    assert client.post(REBALANCE, {"team": team("commerce").pk}).status_code == 403
    assert client.post(REASSIGN, {"team": team("commerce").pk}).status_code == 403


def test_operations_cannot_see_it_either(client, operations):
    client.force_login(operations)
    assert client.get(DASHBOARD).status_code == 403


# --- the figures -------------------------------------------------------------------------------
def test_customers_without_an_owner_read_zero_normally_and_two_when_two_lost_theirs(manager_client):
    # Given three customers past their first order: all owned
    customers = [make_owned_customer() for _ in range(3)]
    make_customer()  # and a prospect without orders, which needs no owner
    page = manager_client.get(DASHBOARD).content.decode()
    assert _figure(page, "without-owner") == "0"
    # When two lose their Ownership row (loaded around the services)
    Ownership.objects.filter(customer__in=customers[:2]).delete()
    # Then the dashboard reads 2, prominently
    page = manager_client.get(DASHBOARD + "?refresh=1").content.decode()
    assert _figure(page, "without-owner") == "2"
    assert re.search(r'id="figure-without-owner" class="[^"]*bg-red-50', page)


def test_customers_without_an_agent_past_sla_count_overdue_unassigned_exceptions(manager_client):
    # Given two customers whose "no agent" clock ran out and one still within it
    now = timezone.now()
    _exception(None, kind="unassigned_customer", due_at=now - timedelta(hours=1))
    _exception(None, kind="unassigned_customer", due_at=now - timedelta(minutes=5))
    _exception(None, kind="unassigned_customer", due_at=now + timedelta(hours=2))
    page = manager_client.get(DASHBOARD).content.decode()
    assert _figure(page, "no-agent-past-sla") == "2"


def test_open_exceptions_by_kind_queue_and_age(manager_client):
    # Given open exceptions of two kinds in two queues and of three ages, and a closed one (their
    # customers get an agent, so no "unassigned customer" exception joins the managers' queue)
    make_agent(teams=["commerce"])
    now = timezone.now()
    _exception("commerce", opened_at=now - timedelta(hours=2))
    _exception("commerce", opened_at=now - timedelta(days=2))
    _exception("support", kind="duplicate_customer", opened_at=now - timedelta(days=40))
    closed = _exception("support")
    ExceptionCase.objects.filter(pk=closed.pk).update(status="resolved", closed_at=now)
    # When the manager opens the dashboard
    data = manager_client.get(DASHBOARD).context["data"]
    # Then each breakdown counts the three open ones
    kinds = {item["kind"]: item["count"] for item in data.open.by_kind}
    assert (kinds["payment_problem"], kinds["duplicate_customer"], kinds["at_risk"]) == (2, 1, 0)
    queues = {item["label"]: (item["count"], item["unassigned"]) for item in data.open.by_queue}
    assert queues["Commerce"] == (2, 2) and queues["Support"] == (1, 1) and queues["Managers"] == (0, 0)
    assert [item["count"] for item in data.open.by_age] == [1, 1, 0, 0, 1]


def test_sla_breach_rate_over_the_last_30_days(manager_client):
    # Given four exceptions that fell due in the last 30 days: one breached by the sweep, one closed
    # late, two closed in time; and two outside the window (due long ago, not due yet)
    now = timezone.now()
    _exception(due_at=now - timedelta(days=2), breached_at=now - timedelta(days=2))
    _exception(due_at=now - timedelta(days=3), status="resolved", closed_at=now - timedelta(days=1))
    _exception(due_at=now - timedelta(days=3), status="resolved", closed_at=now - timedelta(days=4))
    _exception(due_at=now - timedelta(days=5), status="dismissed", closed_at=now - timedelta(days=6))
    _exception(due_at=now - timedelta(days=45), breached_at=now - timedelta(days=45))
    _exception(due_at=now + timedelta(days=1))  # not due yet
    page = manager_client.get(DASHBOARD).content.decode()
    # Then 2 of the 4 that fell due breached
    assert _figure(page, "breach-rate") == "50.0 %"


def test_median_time_from_first_purchase_to_owner(manager_client):
    # Given three customers who got their owner 1, 2 and 5 hours after their first order
    for hours in (1, 2, 5):
        customer = make_owned_customer()
        first_handoff = Handoff.objects.filter(customer=customer).order_by("created_at").first()
        type(customer).objects.filter(pk=customer.pk).update(
            first_order_at=first_handoff.created_at - timedelta(hours=hours))
    # When the manager opens the dashboard
    response = manager_client.get(DASHBOARD)
    # Then the median is 2 hours
    figures = response.context["data"].time_to_owner
    assert figures["customers"] == 3
    assert abs(figures["to_team"] - timedelta(hours=2)) < timedelta(seconds=1)
    assert _figure(response.content.decode(), "time-to-owner") == "2h 00m"


def test_repeat_purchase_rate_of_a_weekly_cohort(manager_client):
    # Given four customers whose first order was 16 weeks ago (old enough for every window):
    # one ordered again after 10 days, one after 45, one after 80, one never
    first = timezone.now() - timedelta(weeks=16)
    for again in (10, 45, 80, None):
        customer = make_customer()
        make_order(customer, placed_at=first)
        if again:
            make_order(customer, placed_at=first + timedelta(days=again))
    # And a customer of 2 weeks ago: too young for any rate
    young = make_customer()
    make_order(young, placed_at=timezone.now() - timedelta(weeks=2))
    # When the manager opens the dashboard
    response = manager_client.get(DASHBOARD)
    cohorts = {c["week"]: c for c in response.context["data"].cohorts}
    # Then the cohort of that week has 4 customers and 25 / 50 / 75 % repeat rates
    week = (first - timedelta(days=first.weekday())).date()
    assert cohorts[week]["size"] == 4
    assert cohorts[week]["rates"] == {30: 0.25, 60: 0.5, 90: 0.75}
    row = re.search(rf'data-week="{week:%Y-%m-%d}">(.*?)</tr>', response.content.decode(), re.S).group(1)
    assert "25.0 %" in row and "50.0 %" in row and "75.0 %" in row
    # And the young cohort counts its customer but shows no rate yet
    young_week = [c for c in cohorts.values() if c["size"] == 1]
    assert young_week and young_week[0]["rates"] == {30: None, 60: None, 90: None}


def test_sections_not_connected_yet_say_so(manager_client):
    page = manager_client.get(DASHBOARD).content.decode()
    for title in ("Journey completion", "Health distribution"):
        assert title in page
    assert "Arrives with the first-30-days journeys." not in page and "data-journey-map-link" in page


def test_charts_are_drawn_by_unfolds_bundled_chart_js(manager_client):
    page = manager_client.get(DASHBOARD).content.decode()
    assert "unfold/js/chart/chart.js" in page
    assert page.count('class="chart"') == 6  # the health distribution's too


# --- queue work from the dashboard ---------------------------------------------------------------
@pytest.fixture
def commerce_agents():
    return [make_agent(make_user(name, group="Support agent"), teams=["commerce"]) for name in ("ana", "ben")]


def test_rebalance_spreads_the_team_queue_through_the_service(manager_client, commerce_agents):
    # Given four unassigned exceptions in the commerce queue and two available agents
    items = [_exception("commerce") for _ in range(4)]
    # When the manager rebalances the commerce queue from the dashboard
    response = manager_client.post(REBALANCE, {"team": team("commerce").pk}, follow=True)
    # Then each agent holds two, each assignment is on the timeline, and the page says so
    held = [ExceptionCase.objects.filter(assignee=agent, status="in_progress").count() for agent in commerce_agents]
    assert held == [2, 2]
    assigned = TimelineEvent.objects.filter(kind="exception_assigned", customer__in=[i.customer for i in items])
    assert assigned.count() == 4
    assert response.redirect_chain[-1][0].endswith(f"{DASHBOARD}#team-{team('commerce').pk}")
    assert "4 exception(s) moved" in response.content.decode()
    # And the figures shown are fresh, not the cached ones
    commerce = next(t for t in response.context["data"].teams if t["name"] == "Commerce")
    assert sorted(a["in_queue"] for a in commerce["agents"]) == [2, 2]


def test_rebalance_without_available_agents_reports_the_refusal(manager_client):
    _exception("sales")
    page = manager_client.post(REBALANCE, {"team": team("sales").pk}, follow=True).content.decode()
    assert "no available agent" in page


def test_bulk_reassign_moves_one_agents_items_to_another(manager_client, manager, commerce_agents):
    # Given Ana holds three commerce exceptions and one of the managers' queue
    ana, ben = commerce_agents
    actor = Actor.for_user(manager)
    mine = [exception_assign(exception=_exception("commerce"), agent=ana, actor=actor) for _ in range(3)]
    elsewhere = exception_assign(exception=_exception(None, kind="unmapped_status", queue=None), agent=ana, actor=actor)
    # When the manager moves Ana's commerce items to Ben
    response = manager_client.post(
        REASSIGN, {"team": team("commerce").pk, "from_agent": ana.pk, "to_agent": ben.pk}, follow=True)
    # Then Ben holds the three, Ana keeps the one outside this queue, through the service (timeline)
    assert set(ExceptionCase.objects.filter(assignee=ben).values_list("pk", flat=True)) == {i.pk for i in mine}
    assert list(ExceptionCase.objects.filter(assignee=ana).values_list("pk", flat=True)) == [elsewhere.pk]
    assert TimelineEvent.objects.filter(kind="exception_assigned").count() == 3 + 1 + 3
    assert "moved 3 exception(s) from" in response.content.decode()


def test_bulk_reassign_refuses_the_same_agent_twice_and_agents_outside_the_team(manager_client, commerce_agents):
    ana, _ = commerce_agents
    outsider = make_agent(teams=["support"])
    page = manager_client.post(REASSIGN, {"team": team("commerce").pk, "from_agent": ana.pk, "to_agent": ana.pk},
                               follow=True).content.decode()
    assert "Pick two different agents." in page
    page = manager_client.post(REASSIGN, {"team": team("commerce").pk, "from_agent": ana.pk,
                                          "to_agent": outsider.pk}, follow=True).content.decode()
    assert "Select a valid choice" in page


def test_the_actions_are_posts_about_an_existing_team(manager_client):
    assert manager_client.get(REBALANCE).status_code == 405
    assert manager_client.get(REASSIGN).status_code == 405
    assert manager_client.post(REBALANCE, {"team": "nope"}).status_code == 404
    assert manager_client.post(REASSIGN, {"team": 999999}).status_code == 404


# --- cost ---------------------------------------------------------------------------------------
def test_the_dashboard_costs_the_same_queries_whatever_the_data_size(manager_client, commerce_agents):
    def queries():
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert manager_client.get(DASHBOARD).status_code == 200
        return len(_reads(captured))

    _exception("commerce")
    few = queries()
    for _ in range(5):
        _exception("support", kind="duplicate_customer")
        customer = make_owned_customer()
        make_order(customer)
    # Then the same number of queries, and few: the 10 figure queries, the CRM sync's one (no CRM is
    # connected: tests/console/test_dashboard_crm.py), the journeys' one, the health section's three (the
    # bands, each team's expansion candidates and customers at risk), plus session, user, permissions
    assert queries() == few
    assert few <= 19
    # And a second load within the cache period reads the snapshot instead of recomputing it
    with CaptureQueriesContext(connection) as captured:
        manager_client.get(DASHBOARD)
    assert len(_reads(captured)) == few - 15


def test_the_snapshot_is_one_fixed_set_of_queries(db):
    with CaptureQueriesContext(connection) as captured:
        metrics.dashboard(timezone.now())
    # Ten reads (two of them the reconciliation drift), around them the transaction that turns
    # PostgreSQL's JIT off
    assert len(_reads(captured)) == 10
