"""A NUL character or an over-long value in a search, an admin list filter or the admin's autocomplete
gets a clear 400, never a 500 (issue 16, item 7): PostgreSQL cannot hold NUL in text, so these failed
wherever they reached a query. Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://...)."""

import pytest
from django.contrib import admin
from django.contrib.admin.filters import SimpleListFilter
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, reverse

from console.middleware import SEARCH_MAX, VALUE_MAX
from tests.factories import make_owned_customer

pytestmark = pytest.mark.django_db
LAYOUT = 'id="customer-search"'  # the header's search box: the page is in the console's layout
NUL = "\x00"


def get(client, path, **params):
    return client.get(path, params)


def refused(response, *words):
    assert response.status_code == 400, (response.status_code, getattr(response, "url", ""))
    html = response.content.decode()
    assert LAYOUT in html and 'data-refusal="400"' in html
    sentences = " ".join(str(s) for s in response.context["refusal"]["sentences"])
    for word in words:
        assert word in sentences, (word, sentences)
    return sentences


@pytest.fixture
def manager_client(client_for, manager):
    return client_for(manager)


# --- the console's search -------------------------------------------------------------------------
@pytest.mark.parametrize("q", [NUL, f"grace{NUL}@example.com"])
def test_a_nul_in_the_console_search_is_a_400_in_the_consoles_layout(manager_client, q):
    refused(get(manager_client, "/console/search/", q=q), "The search", "NUL")


def test_a_search_longer_than_anything_stored_is_a_400_and_one_as_long_still_searches(manager_client):
    sentences = refused(get(manager_client, "/console/search/", q="x" * (SEARCH_MAX + 1)), "255 characters",
                        f"{SEARCH_MAX}")
    assert "x" * 50 not in sentences  # the value is not echoed back
    assert get(manager_client, "/console/search/", q="x" * SEARCH_MAX).status_code == 200


def test_an_ordinary_search_is_untouched(manager_client):
    grace = make_owned_customer(paid=True, name="Grace Hopper", email="grace@example.com")
    response = get(manager_client, "/console/search/", q="grace@example.com")
    assert response.status_code == 302 and response.url == reverse("console:customer", args=[grace.pk])


# --- every admin list: its search and its filters -------------------------------------------------------
def _changelists():
    for model, model_admin in admin.site._registry.items():
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        yield model, model_admin, url


def _filter_parameters(model, model_admin):
    """The query parameters each list filter reads, as its links write them."""
    for spec in model_admin.list_filter:
        if isinstance(spec, type) and issubclass(spec, SimpleListFilter):
            yield spec.parameter_name
            continue
        name = spec[0] if isinstance(spec, tuple) else spec
        field = model._meta.get_field(name.split("__")[0])
        yield f"{name}__exact"
        if isinstance(field, models.ForeignKey) or field.many_to_many:
            yield f"{name}__id__exact"


FILTERS = [(url, parameter) for model, model_admin, url in _changelists()
           for parameter in _filter_parameters(model, model_admin)]
SEARCHABLE = [url for _model, model_admin, url in _changelists() if model_admin.search_fields]


def test_the_walk_covers_the_lists_the_issue_names():
    assert ("/admin/lifecycle/exceptioncase/", "status__exact") in FILTERS
    assert ("/admin/integrations/inboundevent/", "status__exact") in FILTERS
    assert ("/admin/lifecycle/customer/", "team") in FILTERS
    assert "/admin/lifecycle/customer/" in SEARCHABLE and len(FILTERS) > 30


@pytest.mark.parametrize("url", SEARCHABLE)
def test_a_nul_in_an_admin_search_is_a_400(manager_client, url):
    refused(get(manager_client, url, q=f"a{NUL}b"), "The search", "NUL")


@pytest.mark.parametrize("url, parameter", FILTERS)
def test_a_nul_in_any_admin_list_filter_is_a_400(manager_client, url, parameter):
    refused(get(manager_client, url, **{parameter: NUL}), f"“{parameter}”", "NUL")


@pytest.mark.parametrize("value, words", [
    ("x" * (VALUE_MAX + 1), ["2,001 characters"]),
    ("9" * 20, ["a number larger than any"]),  # an id no column holds (SQLite raised OverflowError)
])
@pytest.mark.parametrize("url, parameter", [
    ("/admin/integrations/inboundevent/", "store__id__exact"),
    ("/admin/lifecycle/exceptioncase/", "status__exact"),
    ("/admin/lifecycle/customer/", "team"),
])
def test_a_filter_value_no_column_holds_is_a_400(manager_client, url, parameter, value, words):
    refused(get(manager_client, url, **{parameter: value}), *words)


@pytest.mark.parametrize("url, parameter", [
    ("/admin/lifecycle/customer/", "team"), ("/admin/lifecycle/customer/", "agent"),
    ("/admin/lifecycle/ownership/", "team"), ("/admin/lifecycle/handoff/", "to_team"),
    ("/admin/lifecycle/handoff/", "to_agent"),
])
def test_a_team_or_agent_filter_that_is_no_id_drops_the_filter_as_djangos_own_do(manager_client, support_agent,
                                                                                  url, parameter):
    # a word where an id belongs is merely wrong, not unreadable: the admin's "?e=1", not a 500
    # (support_agent: an agent exists, so the agent filters are shown and applied)
    response = get(manager_client, url, **{parameter: "abc"})
    assert response.status_code == 302 and response.url.endswith("?e=1")


def test_the_refusal_offers_the_list_without_what_was_typed(manager_client):
    response = get(manager_client, "/admin/lifecycle/order/", q=NUL, state__exact="paid")
    refused(response)
    assert response.context["refusal"]["links"][0]["url"] == "/admin/lifecycle/order/"


# --- the admin's autocomplete ----------------------------------------------------------------------------
def _autocompletes():
    """Every (app_label, model_name, field_name) the autocomplete view would serve: a relation to a
    model whose admin has search fields."""
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model in admin.site._registry):
                continue
            if admin.site._registry[field.related_model].search_fields:
                yield model._meta.app_label, model._meta.model_name, field.name


AUTOCOMPLETES = sorted(set(_autocompletes()))


def test_the_autocomplete_walk_covers_customers_and_agents():
    assert ("lifecycle", "exceptioncase", "customer") in AUTOCOMPLETES
    assert ("lifecycle", "ownership", "agent") in AUTOCOMPLETES


@pytest.mark.parametrize("app_label, model_name, field_name", AUTOCOMPLETES)
def test_a_nul_in_an_autocomplete_term_is_a_400(manager_client, app_label, model_name, field_name):
    params = {"term": f"a{NUL}", "app_label": app_label, "model_name": model_name, "field_name": field_name}
    refused(get(manager_client, "/admin/autocomplete/", **params), "The search", "NUL")


def test_the_autocomplete_script_gets_its_refusal_as_json(manager_client):
    params = {"term": "x" * (SEARCH_MAX + 1), "app_label": "lifecycle", "model_name": "exceptioncase",
              "field_name": "customer"}
    response = manager_client.get("/admin/autocomplete/", params, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 400
    assert "characters long" in response.json()["error"]
    params["term"] = "grace"
    response = manager_client.get("/admin/autocomplete/", params, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 200 and response.json()["results"] == []


# --- who else gets what ----------------------------------------------------------------------------------
def test_anyone_not_staff_gets_djangos_plain_400():
    response = Client().get("/console/search/", {"q": NUL})
    assert response.status_code == 400 and LAYOUT not in response.content.decode()


def test_a_nul_in_the_address_itself_is_a_400(manager_client):
    response = manager_client.get("/admin/lifecycle/customer/%00/change/")
    assert response.status_code == 400
    assert response.context["refusal"]["links"] == []


def test_the_api_keeps_answering_its_own_400_naming_the_parameter(client, manager):
    from tests.api.conftest import token_client

    response = token_client(manager).get("/api/v1/customers/", {"email": f"a{NUL}b"})
    assert response.status_code == 400 and set(response.json()) == {"email"}


# --- bulk actions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("selected", ["abc", NUL, "9" * 30, "-1"])
def test_a_bulk_action_on_rows_that_are_no_ids_changes_nothing_and_says_so(manager_client, selected):
    customer = make_owned_customer()
    url = reverse("admin:lifecycle_customer_changelist")
    response = manager_client.post(url, {"action": "reassign_owner", "_selected_action": [str(customer.pk), selected],
                                         "index": 0}, follow=True)
    assert response.status_code == 200
    assert "could not be read: nothing was changed" in response.content.decode()


def test_a_bulk_action_on_real_rows_still_runs(manager_client):
    customer = make_owned_customer()
    response = manager_client.post(reverse("admin:lifecycle_customer_changelist"),
                                   {"action": "reassign_owner", "_selected_action": [str(customer.pk)], "index": 0})
    assert response.status_code == 200 and "Reassign" in response.content.decode()  # its confirmation page
