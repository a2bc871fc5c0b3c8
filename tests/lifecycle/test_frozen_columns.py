"""Columns compiled once read what the ORM's own annotations read; a column needing a join is refused."""

import pytest
from django.db.models import Count, OuterRef, Subquery

from lifecycle.db.sql import frozen_columns, raw_columns
from lifecycle.models import Customer, Order, Ownership
from tests.factories import make_customer, make_owned_customer

pytestmark = pytest.mark.django_db


def _columns(queryset):
    orders = Order.objects.filter(customer_id=OuterRef("pk")).order_by().values("customer_id")
    return queryset.annotate(
        order_count=Subquery(orders.annotate(n=Count("pk")).values("n")),
        agent=Subquery(Ownership.objects.filter(customer_id=OuterRef("pk")).values("agent_id")[:1]),
    )


def test_frozen_columns_read_what_the_orm_annotations_read():
    given = [make_owned_customer(), make_customer()]
    frozen = frozen_columns(_columns(Customer.objects.all()))

    when = list(Customer.objects.annotate(**raw_columns(frozen)).order_by("pk").values("pk", "order_count", "agent"))

    then = list(_columns(Customer.objects.all()).order_by("pk").values("pk", "order_count", "agent"))
    assert when == then and {row["pk"] for row in when} == {c.pk for c in given}
    # added again to another query: the same columns, new expressions
    assert Customer.objects.annotate(**raw_columns(frozen)).filter(pk=given[0].pk).get().agent == then[0]["agent"]


def test_a_column_through_a_join_is_refused():
    with pytest.raises(ValueError, match="may not join"):
        frozen_columns(Customer.objects.annotate(agent_id=Subquery(
            Ownership.objects.filter(agent_id=OuterRef("ownership__agent_id")).values("agent_id")[:1])))
