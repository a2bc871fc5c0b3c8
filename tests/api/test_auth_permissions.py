"""Who may read what through the API: tokens, sessions, anonymous 401, and each role's visibility."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _endpoints(world):
    return [
        "/api/v1/customers/",
        f"/api/v1/customers/?email={world.anna.email}",
        f"/api/v1/customers/{world.anna.pk}/",
        f"/api/v1/customers/{world.anna.pk}/timeline/",
        "/api/v1/exceptions/",
        "/api/schema/",
    ]


def test_anonymous_requests_get_401_with_a_token_challenge(world):
    for url in _endpoints(world):
        response = APIClient().get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token", url


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token ", "Bearer abc", "Token a b"])
def test_a_bad_token_gets_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/customers/").status_code == 401


def test_a_token_authenticates_as_its_user_and_stops_when_the_user_is_deactivated(world, manager):
    client = token_client(manager)
    assert client.get(f"/api/v1/customers/{world.anna.pk}/").status_code == 200
    User.objects.filter(pk=manager.pk).update(is_active=False)
    assert client.get(f"/api/v1/customers/{world.anna.pk}/").status_code == 401


def test_a_console_session_works_too(world, manager):
    client = APIClient()
    client.force_login(manager)
    assert client.get(f"/api/v1/customers/{world.anna.pk}/").status_code == 200


def test_docs_send_anonymous_browsers_to_the_login_page_and_load_no_cdn(world, manager, client):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(manager)
    page = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    # Swagger UI's start-up script is a file of its own (the Content-Security-Policy allows no inline one)
    assert 'src="/api/docs/?script="' in page
    assert "/api/schema/" in client.get("/api/docs/?script=").content.decode()


def test_the_schema_is_served_to_token_holders(world, manager):
    response = token_client(manager).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {"/api/v1/customers/", "/api/v1/customers/{id}/", "/api/v1/customers/{id}/timeline/",
                          "/api/v1/exceptions/"}


# --- visibility ------------------------------------------------------------------------------------
def _customer_ids(client, **params):
    response = client.get("/api/v1/customers/", params)
    assert response.status_code == 200
    return {c["id"] for c in response.json()["results"]}


def _exception_ids(client, **params):
    response = client.get("/api/v1/exceptions/", params)
    assert response.status_code == 200
    return {x["id"] for x in response.json()["results"]}


def test_an_agent_sees_only_customers_and_exceptions_of_their_teams(world, commerce_agent):
    client = token_client(commerce_agent)
    # Anna is owned by commerce; Ben by marketing; Carla by nobody
    assert _customer_ids(client) == {world.anna.pk}
    assert _customer_ids(client, email="ben@example.com") == set()
    assert _customer_ids(client, order_number="2001") == set()
    assert world.ben_open.pk not in _exception_ids(client)
    assert world.ben_open.pk not in _exception_ids(client, queue="marketing")
    assert world.anna_open.pk in _exception_ids(client)


def test_an_invisible_customer_is_indistinguishable_from_a_missing_one(world, commerce_agent):
    client = token_client(commerce_agent)
    for suffix in ("", "timeline/"):
        hidden = client.get(f"/api/v1/customers/{world.ben.pk}/{suffix}")
        missing = client.get(f"/api/v1/customers/999999/{suffix}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json()


def test_another_team_sees_the_other_half(world, marketing_agent):
    client = token_client(marketing_agent)
    assert _customer_ids(client) == {world.ben.pk}
    assert client.get(f"/api/v1/customers/{world.anna.pk}/").status_code == 404
    assert client.get(f"/api/v1/customers/{world.ben.pk}/timeline/").status_code == 200
    assert world.ben_open.pk in _exception_ids(client, queue="marketing")


def test_an_agent_sees_a_customer_through_an_exception_in_their_queue(world, marketing_agent):
    # Anna is not marketing's, but an exception about her sits in marketing's queue
    from lifecycle.models import ExceptionCase
    from tests.factories import team

    ExceptionCase.objects.filter(pk=world.anna_open.pk).update(queue=team("marketing"))
    client = token_client(marketing_agent)
    anna = client.get(f"/api/v1/customers/{world.anna.pk}/").json()
    # and sees that exception on her, but not the ones of queues they do not work
    assert [x["id"] for x in anna["open_exceptions"]] == [world.anna_open.pk]


def test_a_manager_sees_everyone_and_every_exception(world, manager):
    client = token_client(manager)
    assert _customer_ids(client) == {world.anna.pk, world.ben.pk, world.carla.pk}
    assert {world.anna_open.pk, world.ben_open.pk} <= _exception_ids(client)


def test_operations_see_customers_and_orders_but_not_owners_or_exceptions(world, operations):
    client = token_client(operations)
    assert _customer_ids(client) == {world.anna.pk, world.ben.pk, world.carla.pk}
    anna = client.get(f"/api/v1/customers/{world.anna.pk}/").json()
    assert anna["orders"] and anna["owner"] is None
    assert anna["open_exceptions"] is None and anna["open_exceptions_total"] is None
    assert client.get(f"/api/v1/customers/{world.anna.pk}/timeline/").status_code == 200
    assert client.get("/api/v1/exceptions/").status_code == 403


def test_a_user_without_a_role_reads_nothing(world):
    client = token_client(make_user("visitor"))
    for url in _endpoints(world)[:-1]:
        assert client.get(url).status_code == 403, url


# --- every API URL pattern, for each role -----------------------------------------------------------
# Expected status per URL name and role; a new endpoint fails here until its row is added.
EXPECTED = {
    #                    anonymous, no role, agent, manager, operations
    "customer-list":     (401, 403, 200, 200, 200),
    "customer-detail":   (401, 403, 200, 200, 200),
    "customer-timeline": (401, 403, 200, 200, 200),
    "exception-list":    (401, 403, 200, 200, 403),
    "schema":            (401, 200, 200, 200, 200),
    "docs":              (302, 200, 200, 200, 200),  # a browser page: anonymous goes to the login page
}


def test_every_api_url_answers_each_role_as_expected(world, support_agent, manager, operations):
    from django.urls import reverse

    from console.api.urls import urlpatterns

    names = {p.name for p in urlpatterns if p.name}
    assert names == set(EXPECTED), "add the new API URL to EXPECTED"
    users = [None, make_user("visitor"), support_agent, manager, operations]
    for name, statuses in EXPECTED.items():
        pattern = next(p for p in urlpatterns if p.name == name)
        kwargs = {"id": world.anna.pk} if "id" in pattern.pattern.converters else {}
        url = reverse(f"api:{name}", kwargs=kwargs)
        for user, expected in zip(users, statuses, strict=True):
            if user is None:
                client = APIClient()
            elif name == "docs":  # people read the docs with their console session
                client = APIClient()
                client.force_login(user)
            else:
                client = token_client(user)
            assert client.get(url).status_code == expected, (name, user and user.username)
