"""The search box: on every page, finds a customer by email, name, phone, order number or any
external id; one visible match opens the customer screen, several are listed, none says so."""

import pytest
from django.urls import reverse

from console.admin.actions import seen_owner
from lifecycle.models import IdentityKind, Ownership, Team
from lifecycle.selectors.search import search_customers
from lifecycle.services.customers import customer_link_identity
from tests.factories import SYSTEM, make_agent, make_owned_customer, make_user

SEARCH = reverse("console:search")


def screen(customer):
    return reverse("console:customer", args=[customer.pk])


@pytest.fixture
def grace(support_agent):
    """A paid customer owned by success (one of the support_agent fixture's teams)."""
    return make_owned_customer(paid=True, name="Grace Hopper", email="grace@example.com", phone="+1 (555) 555-0100")


def search(client, q):
    return client.get(SEARCH, {"q": q})


# --- one match opens the screen -------------------------------------------------------------------
@pytest.mark.parametrize("query", ["grace@example.com", "  GRACE@Example.com "])
def test_by_email_opens_the_customer_screen(client_for, support_agent, grace, query):
    response = search(client_for(support_agent), query)
    assert response.status_code == 302 and response.url == screen(grace)


@pytest.mark.parametrize("query", ["+1 555 555 0100", "+1-555-555-0100", "+15555550100", "1 (555) 555.0100"])
def test_by_phone_in_another_format(client_for, support_agent, grace, query):
    response = search(client_for(support_agent), query)
    assert response.status_code == 302 and response.url == screen(grace)


def test_by_order_number_with_or_without_hash(client_for, support_agent, grace):
    order = grace.orders.get()
    client = client_for(support_agent)

    assert search(client, order.number).url == screen(grace)
    assert search(client, f"#{order.number}").url == screen(grace)


def test_by_woocommerce_customer_id(client_for, support_agent, grace):
    customer_link_identity(customer=grace, kind=IdentityKind.WOOCOMMERCE, namespace="main", value="4711",
                           actor=SYSTEM)

    response = search(client_for(support_agent), "4711")

    assert response.status_code == 302 and response.url == screen(grace)


def test_by_a_unique_name_fragment(client_for, support_agent, grace):
    assert search(client_for(support_agent), "hopper").url == screen(grace)


# --- several, none --------------------------------------------------------------------------------
def test_several_matches_are_listed(client_for, manager):
    smiths = [make_owned_customer(name=f"Jane Smith {n}") for n in range(3)]
    make_owned_customer(name="John Doe")

    response = search(client_for(manager), "smith")

    assert response.status_code == 200
    assert [row["customer"].pk for row in response.context["rows"]] == [c.pk for c in smiths]
    page = response.content.decode()
    assert all(screen(c) in page for c in smiths)
    assert "3 customers match" in page


def test_no_match_says_so(client_for, manager, grace):
    response = search(client_for(manager), "nobody@nowhere.test")

    assert response.status_code == 200
    assert "No customer matches" in response.content.decode()


def test_empty_query_shows_the_form(client_for, manager):
    response = client_for(manager).get(SEARCH)
    assert response.status_code == 200 and response.context["rows"] == []


def test_exact_matches_win_over_name_fragments(manager, grace):
    namesake = make_owned_customer(name="grace@example.com fan club")  # a name containing the email
    result = search_customers(manager, "grace@example.com")
    assert result.exact and [c.pk for c in result.customers] == [grace.pk]
    assert namesake.pk not in {c.pk for c in result.customers}


# --- visibility -----------------------------------------------------------------------------------
def test_agent_of_another_team_is_told_only_the_owner_team_and_stage(client_for, grace):
    outsider = make_user(group="Support agent")
    make_agent(outsider, teams=["marketing"])

    response = search(client_for(outsider), "grace@example.com")  # one exact match: listed, not opened

    assert response.status_code == 200
    html = response.content.decode()
    assert "Owned by Success — ask them or a manager." in html and "Onboarding" in html
    assert 'data-elsewhere="1"' in html
    assert screen(grace) not in html and "Grace Hopper" not in html and "5550100" not in html
    assert f'data-customer="{grace.pk}"' not in html


def test_a_user_without_an_agent_still_finds_nothing(client_for, grace):
    response = search(client_for(make_user(is_staff=True)), "grace@example.com")
    assert "No customer matches" in response.content.decode()
    assert "Success" not in response.content.decode()


def test_results_list_the_customers_the_agent_may_open_first(client_for, support_agent):
    mine = make_owned_customer(paid=True, name="Alan Turing")  # success: the agent's team
    hidden = make_owned_customer(paid=True, name="Alan Kay")
    # ...handed to marketing, a team the agent is not in (set directly: only visibility is tested here)
    Ownership.objects.filter(customer=hidden).update(team=Team.objects.get(slug="marketing"), agent=None)

    response = search(client_for(support_agent), "alan")

    assert response.status_code == 200  # two matches: a list, though only one opens
    html = response.content.decode()
    assert [row.get("customer") for row in response.context["rows"]] == [mine, None]
    assert screen(mine) in html and "Alan Turing" in html
    assert screen(hidden) not in html and "Alan Kay" not in html
    assert "Owned by Marketing — ask them or a manager." in html


def test_anonymous_search_goes_to_login(client):
    response = client.get(SEARCH, {"q": "x"})
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


# --- the box on every page and the links to the screen ---------------------------------------------
@pytest.mark.parametrize("page", ["admin:lifecycle_customer_changelist", "admin:lifecycle_order_changelist",
                                  "console:search"])
def test_search_box_is_in_the_header(client_for, manager, page):
    html = client_for(manager).get(reverse(page)).content.decode()
    assert 'id="customer-search"' in html and f'action="{SEARCH}"' in html


def test_customer_changelist_names_link_to_the_screen_and_the_record_stays_reachable(client_for, manager, grace):
    html = client_for(manager).get(reverse("admin:lifecycle_customer_changelist")).content.decode()
    assert f'href="{screen(grace)}"' in html
    assert reverse("admin:lifecycle_customer_change", args=[grace.pk]) in html


def test_admin_record_links_to_the_screen(client_for, manager, grace):
    html = client_for(manager).get(reverse("admin:lifecycle_customer_change", args=[grace.pk])).content.decode()
    assert screen(grace) in html


def reassign_form(customer):
    return {"team": Team.objects.get(slug="support").pk, "reason": "Delivery issue",
            f"seen_{customer.pk}": seen_owner(customer)}


def test_reassign_opened_from_the_screen_returns_to_it(client_for, manager, grace):
    detail = reverse("admin:lifecycle_customer_reassign_owner_detail", args=[grace.pk])
    response = client_for(manager).post(f"{detail}?next={screen(grace)}", reassign_form(grace))
    assert response.status_code == 302 and response.url == screen(grace)
    assert Ownership.objects.get(customer=grace).team.slug == "support"  # and the reassignment was made


def test_reassign_ignores_a_foreign_next(client_for, manager, grace):
    detail = reverse("admin:lifecycle_customer_reassign_owner_detail", args=[grace.pk])
    response = client_for(manager).post(f"{detail}?next=https://evil.example/", reassign_form(grace))
    assert response.url == reverse("admin:lifecycle_customer_change", args=[grace.pk])
