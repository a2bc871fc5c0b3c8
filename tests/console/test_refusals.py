"""Refusals in the console's layout: another team's customer (403, who owns it and whom to ask), a
missing customer (404), a page not for the user's role (403); the API keeps its JSON errors."""

import pytest
from django.urls import reverse

from lifecycle.models import Ownership, Team
from tests.factories import make_agent, make_owned_customer, make_user

LAYOUT = 'id="customer-search"'  # the header's search box: the page is in the console's layout


def screen(customer_id):
    return reverse("console:customer", args=[customer_id])


@pytest.fixture
def grace(db):
    """Paid, so onboarding, owned by success."""
    return make_owned_customer(paid=True, name="Grace Hopper", email="grace@example.com", phone="+1 555 555 0100")


@pytest.fixture
def outsider(db):
    """A support agent of marketing only: may not open success's customers."""
    user = make_user("outsider", group="Support agent")
    make_agent(user, teams=["marketing"])
    return user


def sentences(response):
    return " ".join(str(s) for s in response.context["refusal"]["sentences"])


# --- another team's customer ------------------------------------------------------------------------
def test_another_teams_customer_says_who_owns_it_and_whom_to_ask(client_for, grace, outsider):
    success = Team.objects.get(slug="success")
    success.manager = make_user("lead", first_name="Lin", last_name="Chen", group="Manager")
    success.save()

    response = client_for(outsider).get(screen(grace.pk))

    assert response.status_code == 403
    html = response.content.decode()
    assert LAYOUT in html and 'data-refusal="403"' in html
    assert "This customer belongs to Success (Onboarding stage)." in sentences(response)
    assert "Only Success and managers can open it." in sentences(response)
    assert "To reach Success, ask its manager, Lin Chen, or any manager." in sentences(response)
    for secret in ("Grace Hopper", "grace@example.com", "5550100", f"/admin/lifecycle/customer/{grace.pk}/"):
        assert secret not in html, secret


def test_without_a_manager_the_teams_agents_are_named(client_for, grace, outsider):
    for first, last in [("Ana", "Ruiz"), ("Ben", "Ode")]:
        make_agent(make_user(f"{first.lower()}-success", first_name=first, last_name=last, group="Support agent"),
                   teams=["success"])
    make_agent(make_user(first_name="Gone", last_name="Away", group="Support agent", is_active=False),
               teams=["success"])

    response = client_for(outsider).get(screen(grace.pk))

    assert response.status_code == 403
    assert response.context["refusal"]["contacts"] == ["Ana Ruiz", "Ben Ode"]
    assert "To reach Success, ask one of its agents, or any manager:" in sentences(response)
    html = response.content.decode()
    assert "Ana Ruiz" in html
    assert "Gone Away" not in html
    assert "ana-success" not in html  # names, not usernames or emails


def test_a_customer_without_an_owning_team_sends_the_agent_to_a_manager(client_for, grace, outsider):
    Ownership.objects.filter(customer=grace).delete()

    response = client_for(outsider).get(screen(grace.pk))

    assert response.status_code == 403
    assert "no team owns it yet" in sentences(response) and "ask a manager" in sentences(response)


def test_a_missing_customer_is_a_styled_404(client_for, outsider, manager):
    for user in (outsider, manager):
        response = client_for(user).get(screen(999999))
        assert response.status_code == 404
        html = response.content.decode()
        assert LAYOUT in html and "No customer #999999" in html


def test_a_user_without_a_role_is_told_nothing_of_an_existing_customer(client_for, grace):
    response = client_for(make_user(is_staff=True)).get(screen(grace.pk))
    assert response.status_code == 404
    assert "Success" not in response.content.decode() and "Grace" not in response.content.decode()


def test_the_agents_search_matches_the_refusal(client_for, grace, outsider):
    """Search lists the customer with its team and stage, no link; the screen refuses with the same."""
    client = client_for(outsider)
    html = client.get(reverse("console:search"), {"q": grace.orders.get().number}).content.decode()

    assert "Owned by Success — ask them or a manager." in html and "Onboarding" in html
    assert screen(grace.pk) not in html and "Grace Hopper" not in html and "5550100" not in html


# --- a page not for the user's role -------------------------------------------------------------------
def test_operations_get_a_styled_page_on_the_dashboard(client_for, operations):
    response = client_for(operations).get(reverse("console:dashboard"))

    assert response.status_code == 403
    html = response.content.decode()
    assert LAYOUT in html and "Not for your role" in html
    assert "The dashboard shows managers" in sentences(response)
    assert "Managers use it; your role does not." in sentences(response)
    links = {link["label"]: link["url"] for link in response.context["refusal"]["links"]}
    assert list(links) == ["Customers", "Orders", "Stores", "Deliveries", "Status mappings"]
    assert links["Deliveries"] == reverse("admin:integrations_inboundevent_changelist")
    for url in links.values():
        assert f'href="{url}"' in html
        assert client_for(operations).get(url).status_code == 200


def test_operations_get_a_styled_page_on_the_exceptions(client_for, operations):
    response = client_for(operations).get(reverse("admin:lifecycle_exceptioncase_changelist"))

    assert response.status_code == 403
    assert "Exceptions are the problems support works through" in sentences(response)
    assert "Managers and support agents use it; your role does not." in sentences(response)


def test_an_agent_on_the_dashboard_is_offered_the_queue(client_for, support_agent):
    response = client_for(support_agent).get(reverse("console:dashboard"))

    assert response.status_code == 403
    links = {link["label"]: link["url"] for link in response.context["refusal"]["links"]}
    assert links["My queue"] == reverse("admin:lifecycle_exceptioncase_changelist") + "?view=mine"
    assert "Stores" not in links


# --- the API keeps JSON -----------------------------------------------------------------------------
def test_the_api_still_answers_json_403_and_404(client_for, grace, outsider, operations):
    refused = client_for(operations).get("/api/v1/exceptions/")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/json"
    assert "detail" in refused.json()

    hidden = client_for(outsider).get(f"/api/v1/customers/{grace.pk}/")
    assert hidden.status_code == 404 and hidden["Content-Type"] == "application/json"
    assert "Success" not in hidden.content.decode()

    missing = client_for(outsider).get("/api/v1/no-such-endpoint/")
    assert missing.status_code == 404 and missing.json()["detail"]


def test_a_403_raised_outside_the_api_views_under_api_is_json(rf, operations):
    from django.core.exceptions import PermissionDenied

    from console.views.refusals import permission_denied

    request = rf.get("/api/v1/customers/")
    request.user = operations
    response = permission_denied(request, PermissionDenied())
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
