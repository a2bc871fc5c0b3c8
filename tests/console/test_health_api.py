"""The read API's `health`: score, band, each component with its points (missing ones as missing),
the trend and the policy version, documented in the OpenAPI schema; a page of customers reads its
scores in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.health_score import COMPONENTS
from tests.api.conftest import token_client
from tests.factories import make_customer, make_order
from tests.lifecycle.health_support import TASK, paid_customer, recompute

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


def test_a_customers_health_has_its_score_band_components_trend_and_policy_version(manager):
    customer = paid_customer(email="hana@example.com")
    recompute(customer)
    exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key="api", summary="A problem", customer=customer,
                    actor=TASK)
    score = recompute(customer)

    health = token_client(manager).get(f"{CUSTOMERS}{customer.pk}/").json()["health"]

    assert (health["score"], health["band"], health["policy_version"]) == (score.score, "optimize", 1)
    assert [c["name"] for c in health["components"]] == list(COMPONENTS)
    exceptions = next(c for c in health["components"] if c["name"] == "open_exceptions")
    assert exceptions == {"name": "open_exceptions", "label": "Open exceptions", "missing": False, "value": 1,
                          "points": 25.0, "contribution": 16.7,
                          "sentence": "1 open exception (each costs a third)."}
    delivery = next(c for c in health["components"] if c["name"] == "on_time_delivery")
    assert (delivery["missing"], delivery["value"], delivery["points"], delivery["contribution"]) == (
        True, None, None, None)
    assert [p["score"] for p in health["trend"]] == [58, 50]
    assert health["computed_at"]


def test_health_is_null_until_the_score_is_computed(manager):
    customer = make_customer(email="ida@example.com")
    make_order(customer, state="paid")
    assert token_client(manager).get(f"{CUSTOMERS}{customer.pk}/").json()["health"] is None


def _list_queries(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CUSTOMERS)
    assert response.status_code == 200
    return len(captured), response.json()["results"]


def test_the_customer_list_reads_health_without_a_query_per_customer(manager):
    client = token_client(manager)
    recompute(paid_customer())
    _list_queries(client)  # warm the session and the status mappings
    one, results = _list_queries(client)
    recompute(*[paid_customer() for _ in range(4)])
    five, results = _list_queries(client)
    assert len(results) == 5 and all(r["health"]["score"] == 58 for r in results)
    assert one == five


def test_the_openapi_schema_documents_health_and_its_components(manager):
    schema = token_client(manager).get("/api/schema/?format=json").json()["components"]["schemas"]
    health = schema["Health"]["properties"]
    assert set(health) == {"score", "band", "components", "trend", "policy_version", "computed_at"}
    component = schema["HealthComponent"]["properties"]
    assert set(component) == {"name", "label", "missing", "value", "points", "contribution", "sentence"}
    assert "never read as healthy" in component["missing"]["description"]
