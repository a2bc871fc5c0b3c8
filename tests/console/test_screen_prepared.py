"""The customer screen's statements bind on the server (lifecycle.db.rows.prepared_reads): viewed
often, each is planned once per connection; the screen reads the same, and other pages keep Django's
cursor."""

import pytest
from django.db import connection

from tests.factories import make_order, make_owned_customer

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_a_screen_viewed_often_is_planned_once_and_reads_the_same(client, manager, prepared_statements):
    customers = [make_owned_customer(email=f"c{n}@example.com", name=f"Customer {n}") for n in range(7)]
    for customer in customers:
        make_order(customer, number=f"10{customer.pk}")
    client.force_login(manager)
    before = prepared_statements()  # the fixtures' own hot writes prepare theirs

    pages = [client.get(f"/console/customers/{customer.pk}/") for customer in customers]

    assert all(page.status_code == 200 for page in pages)
    for customer, page in zip(customers, pages, strict=True):
        text = page.content.decode()
        assert customer.display_name in text and f"10{customer.pk}" in text
    prepared = prepared_statements() - before
    assert any('FROM "lifecycle_customer"' in statement for statement in prepared)  # the screen's customer
    assert any('FROM "lifecycle_order"' in statement for statement in prepared)  # its orders
    assert any('FROM "lifecycle_timelineevent"' in statement for statement in prepared)  # its timeline
    with connection.cursor() as cursor:
        assert type(cursor.cursor).__name__ == "Cursor"  # Django's client-binding cursor again


def test_a_refusal_is_rendered_inside_too(client, support_agent):
    client.force_login(support_agent)
    assert client.get("/console/customers/999999/").status_code == 404
