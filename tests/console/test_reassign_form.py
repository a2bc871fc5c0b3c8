"""The owner reassign form: prefilled with the customers' team, and an agent list a manager can choose from
(each agent's teams and load against capacity; nobody off shift or deactivated). The exception assign form
and the customer screen's assign select offer the same list in the same words."""

import html
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.admin.forms import AgentChoiceField, assignable_agents
from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, Ownership
from lifecycle.selectors.routing import agent_loads
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.ownership import ownership_transfer
from tests.factories import SYSTEM, make_agent, make_owned_customer, make_user, team

pytestmark = pytest.mark.django_db
CUSTOMERS = reverse("admin:lifecycle_customer_changelist")


def _agent(first, last, *, teams, capacity=40, available=True, active=True):
    user = make_user(first.lower(), group="Support agent", first_name=first, last_name=last, is_active=active)
    return make_agent(user, teams=teams, capacity=capacity, available=available)


def _give_customers(agent, slug, n):
    """n customers owned by (team slug, agent), through the ownership service."""
    customers = []
    for _ in range(n):
        customer = make_owned_customer()
        ownership_transfer(customer=customer, team=team(slug), agent=agent, reason="test load", actor=SYSTEM)
        customers.append(customer)
    return customers


def _give_exceptions(agent, n):
    for _ in range(n):
        customer = make_owned_customer()
        item, _ = exception_raise(kind="duplicate_customer", subject_key=f"customer:{customer.pk}", summary="twice",
                                  customer=customer, actor=SYSTEM)
        ExceptionCase.objects.filter(pk=item.pk).update(assignee=agent, status="in_progress")


def _reassign_page(client, customers):
    """The intermediate page the "Reassign owner" action shows for the selected customers."""
    response = client.post(CUSTOMERS, {"action": "reassign_owner", ACTION_CHECKBOX_NAME: [c.pk for c in customers],
                                       "index": 0})
    assert response.status_code == 200
    return response.content.decode()


def _options(page, name):
    """[(value, label, selected)] of the <select name=...> on the page."""
    select = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
    return [(value, html.unescape(label).strip(), bool(selected))
            for value, selected, label in re.findall(r'<option value="([^"]*)"( selected)?[^>]*>([^<]*)</option>',
                                                     select)]


def _selected_team(page):
    chosen = [label for value, label, selected in _options(page, "team") if selected and value]
    return chosen[0] if chosen else None


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


# --- prefilled with the current team -------------------------------------------------------------
def test_customers_of_one_team_open_the_form_with_that_team_chosen(manager_client):
    # Given two customers, both owned by Sales
    agent = _agent("Sara", "Lind", teams=["sales"])
    customers = _give_customers(agent, "sales", 2)
    # When the manager reassigns them
    page = _reassign_page(manager_client, customers)
    # Then the team already reads Sales: changing the agent inside the team is one choice
    assert _selected_team(page) == "Sales"


def test_customers_of_different_teams_leave_the_team_to_choose(manager_client):
    sales = _give_customers(_agent("Sara", "Lind", teams=["sales"]), "sales", 1)
    marketing = _give_customers(_agent("Max", "Berg", teams=["marketing"]), "marketing", 1)
    page = _reassign_page(manager_client, sales + marketing)
    assert _selected_team(page) is None


def test_the_customer_page_action_is_prefilled_too(manager_client):
    [customer] = _give_customers(_agent("Sara", "Lind", teams=["sales"]), "sales", 1)
    detail = reverse("admin:lifecycle_customer_reassign_owner_detail", args=[customer.pk])
    assert _selected_team(manager_client.get(detail).content.decode()) == "Sales"


# --- the agent list -----------------------------------------------------------------------------
def test_each_agent_reads_with_teams_and_load_and_off_shift_or_deactivated_agents_are_left_out(manager_client):
    # Given Amira (Sales and Marketing, capacity 5) holding 2 customers and 1 open exception,
    amira = _agent("Amira", "Haddad", teams=["sales", "marketing"], capacity=5)
    _give_customers(amira, "sales", 2)
    _give_exceptions(amira, 1)
    # Ben (Sales, capacity 2) holding 2 customers: full,
    ben = _agent("Ben", "Okafor", teams=["sales"], capacity=2)
    _give_customers(ben, "sales", 2)
    # Cleo, off shift, and Dan, whose login was deactivated
    _agent("Cleo", "Park", teams=["sales"], available=False)
    _agent("Dan", "Reyes", teams=["sales"], active=False)
    customer = make_owned_customer()

    # When the manager opens the reassign form
    labels = [label for value, label, _ in _options(_reassign_page(manager_client, [customer]), "agent") if value]

    # Then each agent reads with their teams and what they hold against their capacity
    assert "Amira Haddad (Marketing, Sales): 3 of 5 open items" in labels
    assert "Ben Okafor (Sales): 2 of 2 open items, at capacity" in labels
    # and nobody off shift or deactivated is offered
    assert not any(name in label for label in labels for name in ("Cleo", "Dan"))


def test_an_agent_who_went_off_shift_meanwhile_is_refused_in_words(manager_client):
    # Given the manager opened the form while Sara was on shift
    sara = _agent("Sara", "Lind", teams=["sales"])
    customer = make_owned_customer()
    before = Ownership.objects.get(customer=customer)
    page = _reassign_page(manager_client, [customer])
    assert any("Sara Lind" in label for _, label, _ in _options(page, "agent"))
    # When Sara goes off shift before the manager submits her
    type(sara).objects.filter(pk=sara.pk).update(is_available=False)
    seen = f"{before.team_id}:{before.agent_id or ''}"
    response = manager_client.post(CUSTOMERS, {
        "action": "reassign_owner", ACTION_CHECKBOX_NAME: [customer.pk], "apply": "1", "team": team("sales").pk,
        "agent": sara.pk, "reason": "account manager", f"seen_{customer.pk}": seen,
    })
    # Then the form says why, and the owner stays
    assert "That agent cannot take work now: off shift, deactivated, or not in this list." in str(
        response.context["form"].errors["agent"])
    after = Ownership.objects.get(customer=customer)
    assert (after.team_id, after.agent_id) == (before.team_id, before.agent_id)


# --- the reusable pieces ------------------------------------------------------------------------
def test_loads_are_what_routing_counts(db):
    # Given agents of Sales with different holdings
    amira = _agent("Amira", "Haddad", teams=["sales"], capacity=5)
    _give_customers(amira, "sales", 2)
    _give_exceptions(amira, 2)
    ben = _agent("Ben", "Okafor", teams=["sales"])
    _give_customers(ben, "sales", 1)
    ExceptionCase.objects.filter(assignee=amira).update(status="resolved")  # closed work is not load
    _give_exceptions(amira, 1)
    # Then the form's loads are the routing decision's loads
    routing = {load.agent_id: load.open_items for load in agent_loads(team("sales"))}
    listed = {agent.pk: agent.open_items for agent in assignable_agents(team("sales"))}
    assert listed == routing == {amira.pk: 3, ben.pk: 1}
    assert ExceptionCase.objects.filter(assignee=amira, status__in=OPEN_STATUSES).count() == 1


def test_a_load_past_every_capacity_is_counted_only_that_far_and_reads_as_more_than_capacity(db):
    # Given the largest capacity is 3: Amira holds 4 customers and 3 exceptions, Ben exactly 3, Sara 1
    amira = _agent("Amira", "Haddad", teams=["sales"], capacity=2)
    _give_customers(amira, "sales", 4)
    _give_exceptions(amira, 3)
    ben = _agent("Ben", "Okafor", teams=["sales"], capacity=3)
    _give_customers(ben, "sales", 3)
    sara = _agent("Sara", "Lind", teams=["sales"], capacity=3)
    _give_customers(sara, "sales", 1)
    Agent.objects.exclude(pk__in=[amira.pk, ben.pk, sara.pk]).update(capacity=1)
    # Then each part is counted up to 3 + 1, and what fits in a capacity is exact
    listed = {agent.pk: agent.open_items for agent in assignable_agents(team("sales"))}
    assert listed == {amira.pk: 4 + 3, ben.pk: 3, sara.pk: 1}
    Ownership.objects.filter(agent=amira).update(agent=None)  # what a manager's move leaves
    _give_customers(amira, "sales", 9)
    assert {a.pk: a.open_items for a in assignable_agents(team("sales"))}[amira.pk] == 4 + 3  # not 9 + 3
    labels = [label for _, label in AgentChoiceField(team=team("sales")).choices][1:]
    assert labels == ["Amira Haddad (Sales): more than 2 open items, at capacity",
                      "Ben Okafor (Sales): 3 of 3 open items, at capacity",
                      "Sara Lind (Sales): 1 of 3 open items"]


def test_a_team_narrows_the_choice_to_its_members(db):
    sara = _agent("Sara", "Lind", teams=["sales"])
    max_ = _agent("Max", "Berg", teams=["marketing"])
    assert list(assignable_agents(team("sales"))) == [sara]
    assert list(assignable_agents(team("marketing").pk)) == [max_]
    field = AgentChoiceField()
    assert {sara, max_} <= set(field.queryset)
    field.for_team(team("sales"))
    assert list(field.queryset) == [sara]
    assert [label for _, label in field.choices][1:] == ["Sara Lind (Sales): 0 of 40 open items"]


def test_the_list_costs_the_same_queries_for_three_agents_or_twelve(manager_client):
    customer = make_owned_customer()

    def queries():
        with CaptureQueriesContext(connection) as captured:
            _reassign_page(manager_client, [customer])
        return len(captured)

    for n in range(3):
        _agent(f"A{n}", "Agent", teams=["sales", "support"])
    few = queries()
    for n in range(9):
        _agent(f"B{n}", "Agent", teams=["sales"])
    assert queries() == few


# --- the same list where exceptions are assigned --------------------------------------------------
EXCEPTIONS = reverse("admin:lifecycle_exceptioncase_changelist")


def _exception_in(slug):
    """An open payment problem in `slug`'s queue (None: the managers' queue)."""
    customer = make_owned_customer()
    item, _ = exception_raise(kind="payment_problem", subject_key=f"customer:{customer.pk}", summary="card declined",
                              customer=customer, actor=SYSTEM)
    ExceptionCase.objects.filter(pk=item.pk).update(queue=team(slug) if slug else None)
    item.refresh_from_db()
    return item


def _assign_page(client, items):
    response = client.post(EXCEPTIONS, {"action": "assign", ACTION_CHECKBOX_NAME: [i.pk for i in items], "index": 0})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def sales_and_marketing():
    """Amira (Sales, Marketing; 1 open exception of 5), Ben (Sales; full), Max (Marketing), Cleo (Sales, off
    shift) and Dan (Sales, deactivated)."""
    amira = _agent("Amira", "Haddad", teams=["sales", "marketing"], capacity=5)
    _give_exceptions(amira, 1)
    ben = _agent("Ben", "Okafor", teams=["sales"], capacity=2)
    _give_customers(ben, "sales", 2)
    _agent("Max", "Berg", teams=["marketing"])
    _agent("Cleo", "Park", teams=["sales"], available=False)
    _agent("Dan", "Reyes", teams=["sales"], active=False)


def test_assigning_exceptions_lists_the_queue_teams_agents_with_their_load(manager_client, sales_and_marketing):
    # When a manager assigns an exception of the Sales queue
    page = _assign_page(manager_client, [_exception_in("sales")])
    labels = [label for value, label, _ in _options(page, "agent") if value]
    # Then only Sales agents who can take work now are offered, each with their teams and load
    assert labels == ["Amira Haddad (Marketing, Sales): 1 of 5 open items",
                      "Ben Okafor (Sales): 2 of 2 open items, at capacity"]
    assert "The agents of Sales on shift" in page


def test_the_managers_queue_offers_every_assignable_agent(manager_client, sales_and_marketing):
    labels = [label for value, label, _ in _options(_assign_page(manager_client, [_exception_in(None)]), "agent")
              if value]
    assert labels == ["Amira Haddad (Marketing, Sales): 1 of 5 open items",
                      "Ben Okafor (Sales): 2 of 2 open items, at capacity",
                      "Max Berg (Marketing): 0 of 40 open items"]
    # and so do exceptions of several teams' queues (the service refuses an agent outside one's team)
    page = _assign_page(manager_client, [_exception_in("sales"), _exception_in("marketing")])
    assert len([value for value, _, _ in _options(page, "agent") if value]) == 3


def test_an_agent_off_shift_since_the_page_opened_is_refused_when_assigning(manager_client, sales_and_marketing):
    item = _exception_in("sales")
    amira = Agent.objects.get(user__first_name="Amira")
    Agent.objects.filter(pk=amira.pk).update(is_available=False)
    response = manager_client.post(EXCEPTIONS, {"action": "assign", ACTION_CHECKBOX_NAME: [item.pk], "index": 0,
                                                "apply": "1", "agent": amira.pk})
    assert "That agent cannot take work now" in response.content.decode()
    item.refresh_from_db()
    assert item.assignee_id is None


def test_the_customer_screen_offers_the_same_agents_in_the_same_words(manager_client, sales_and_marketing):
    # Given a customer whose exception sits in the Sales queue
    item = _exception_in("sales")
    # When a manager opens the customer's screen
    response = manager_client.get(reverse("console:customer", args=[item.customer_id]))
    row = next(row for section in response.context["sections"] if section["key"] == "exceptions"
               for row in section["data"].open if row.exception.pk == item.pk)
    # Then its assign select offers what the assign form offers, labelled the same way
    assert [label for _, label in row.agents] == [
        label for value, label, _ in _options(_assign_page(manager_client, [item]), "agent") if value]
    assert "Cleo" not in str(row.agents) and "Dan" not in str(row.agents)
