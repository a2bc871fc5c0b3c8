"""The read API's customer reads bind on the server (lifecycle.db.rows.prepared_reads): a lookup run
often is planned once per connection and answers as before; the exception list (skewed filters) and
every other query keep Django's cursor."""

import pytest
from django.db import connection

from tests.api.conftest import token_client

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
CUSTOMERS = "/api/v1/customers/"


def test_a_lookup_run_often_is_planned_once_and_answers_the_same(world, manager, prepared_statements):
    client = token_client(manager)
    first = client.get(CUSTOMERS, {"email": "anna@example.com"}).json()
    assert [c["email"] for c in first["results"]] == ["anna@example.com"] and first["results"][0]["orders"]
    before = prepared_statements()  # the fixture's own hot writes prepare theirs

    answers = [client.get(CUSTOMERS, {"email": email}).json() for email in ["anna@example.com"] * 6]

    assert all(answer == first for answer in answers)
    prepared = prepared_statements() - before
    assert any('FROM "lifecycle_customer"' in statement for statement in prepared)  # the page of customers
    assert any('FROM "lifecycle_order"' in statement for statement in prepared)  # and its orders
    assert client.get(CUSTOMERS, {"email": "nobody@example.com"}).json()["results"] == []


def test_outside_the_api_queries_bind_on_the_client_again(world, manager):
    token_client(manager).get(CUSTOMERS, {"email": "anna@example.com"})
    with connection.cursor() as cursor:
        assert type(cursor.cursor).__name__ == "Cursor"  # Django's client-binding cursor, not ServerBindingCursor


def test_the_exception_list_is_planned_for_each_filter_value(world, manager, prepared_statements):
    # a rare kind or an empty queue wants a plan of its own: one plan for every value could scan the table
    client = token_client(manager)
    before = prepared_statements()
    for _ in range(7):
        assert client.get("/api/v1/exceptions/", {"status": "open", "kind": "state_mismatch"}).status_code == 200
    assert not any('FROM "lifecycle_exceptioncase"' in statement for statement in prepared_statements() - before)
