"""The read API's `journey` per customer: the current journey's steps with state, team and due time,
documented in the OpenAPI schema, read for a whole page in two queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle.models import StepState
from tests.api.conftest import token_client
from tests.factories import make_customer
from tests.lifecycle.journey_support import crm_activity, follow, paid_customer, sweep

pytestmark = pytest.mark.django_db
CUSTOMERS = "/api/v1/customers/"


def test_a_customer_carries_its_journey_with_each_steps_state_team_and_due_time(manager):
    customer, order, paid_at = paid_customer(days_ago=3)
    crm_activity(customer, "email", paid_at)
    follow()
    sweep()

    body = token_client(manager).get(f"{CUSTOMERS}{customer.pk}/").json()

    journey = body["journey"]
    assert set(journey) == {"id", "playbook", "version", "status", "started_at", "ended_at", "end_reason", "steps"}
    assert (journey["playbook"], journey["version"], journey["status"]) == ("First 30 days", 1, "running")
    steps = {s["key"]: s for s in journey["steps"]}
    assert list(steps) == ["order_confirmation", "welcome_email", "shipping_notice", "delivery_check_in",
                           "onboarding_check", "review_request", "value_review"]
    assert set(steps["welcome_email"]) == {"key", "name", "state", "overdue", "team", "due_at", "calendar_due_at",
                                           "done_at", "duplicated"}
    assert steps["order_confirmation"]["state"] == StepState.DONE and steps["order_confirmation"]["done_at"]
    assert steps["welcome_email"]["state"] == StepState.DONE  # the CRM's email at payment
    assert steps["shipping_notice"]["state"] == StepState.MISSED
    assert steps["shipping_notice"]["team"] == {"slug": "commerce", "name": "Commerce"}
    assert steps["value_review"]["state"] == StepState.PENDING and not steps["value_review"]["overdue"]
    assert steps["value_review"]["due_at"] == steps["value_review"]["calendar_due_at"]


def test_a_customer_without_a_paid_order_has_no_journey(manager):
    customer = make_customer()
    assert token_client(manager).get(f"{CUSTOMERS}{customer.pk}/").json()["journey"] is None


def test_a_page_of_customers_reads_their_journeys_in_the_same_queries_however_many(manager):
    client = token_client(manager)
    paid_customer()
    client.get(CUSTOMERS)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(CUSTOMERS).status_code == 200
        return len(queries)

    one = count()
    for _ in range(4):
        paid_customer()
    assert count() == one
    assert all(c["journey"]["steps"] for c in client.get(CUSTOMERS).json()["results"])


def test_the_schema_documents_the_journey(manager):
    schema = token_client(manager).get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    customer = components["Customer"]["properties"]["journey"]
    assert "Null until a first paid order starts one" in customer["description"]
    journey = components["Journey"]["properties"]
    assert {"steps", "status", "started_at"} <= set(journey)
    step = components["JourneyStep"]["properties"]
    assert {"state", "team", "due_at", "overdue"} <= set(step)
    assert set(components["StepStateEnum"]["enum"]) == {"pending", "done", "late", "missed", "skipped"}
