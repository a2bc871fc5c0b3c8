"""Hand-built inserts store exactly what the ORM would: the shortcut for plain values never changes one."""

from datetime import datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle.models import Customer, ExceptionCase, Order, TimelineEvent
from lifecycle.db import rows
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def _as_django_prepares(instance):
    fields = [f for f in instance._meta.concrete_fields if instance.pk is not None or not f.primary_key]
    return [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]


def _comparable(params):
    # psycopg's wrappers (Jsonb, Int8, …) compare by identity: compare what they hold.
    return [getattr(p, "obj", p) if not isinstance(p, int) else int(p) for p in params]


def test_insert_values_match_the_fields_own_preparation():
    customer = make_customer()
    now = timezone.now()
    order = Order(id=10_001, customer=customer, system="woocommerce", namespace="shop", external_id="77",
                  number="77", currency="EUR", total=Decimal("12.30"), placed_at=now, paid_at=None)
    exception = ExceptionCase(id=10_002, kind="at_risk", subject_key=f"customer:{customer.pk}", customer=customer,
                              severity=3, summary="Süße Grüße", evidence={"a": [1, "ü"]}, due_at=now, opened_at=now)
    event = TimelineEvent(customer_id=customer.pk, kind="x", source="system", summary="s", data={"k": 1},
                          occurred_at=now, actor_kind="system", actor_ref="test")
    with mock.patch("django.utils.timezone.now", return_value=now):  # auto_now fields: one instant
        for instance in (order, exception, event):
            _, params = rows.insert_statement(instance)
            assert _comparable(params) == _comparable(_as_django_prepares(instance))


def test_values_of_another_type_still_go_through_the_field():
    """A naive datetime (made aware, with Django's warning) and a number given as text are prepared by
    the field, as save() would: the shortcut only takes values already of the stored type."""
    customer = make_customer()
    naive = datetime(2026, 3, 29, 1, 30)
    event = TimelineEvent(customer_id=str(customer.pk), kind="x", source="system", summary="s", data={},
                          occurred_at=naive, actor_kind="system", actor_ref="test")
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        _, params = rows.insert_statement(event)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        expected = _as_django_prepares(event)
    assert _comparable(params) == _comparable(expected)


def test_a_hand_built_insert_reads_back_as_saved():
    customer = make_customer()
    now = timezone.now()
    exception = ExceptionCase(kind="at_risk", subject_key=f"customer:{customer.pk}", customer=customer, severity=3,
                              summary="Süße Grüße", evidence={"a": [1, "ü"]}, due_at=now, opened_at=now)
    rows.insert_returning_pk(exception)
    stored = ExceptionCase.objects.get(pk=exception.pk)
    assert (stored.customer_id, stored.severity, stored.summary, stored.evidence, stored.due_at, stored.status) == (
        customer.pk, 3, "Süße Grüße", {"a": [1, "ü"]}, now, "open")


def test_insert_many_writes_every_row_and_gives_each_instance_its_id(monkeypatch):
    """In statements of at most MAX_PARAMS values (here made small, so the rows need several), each
    instance gets the id of its own row, and a relation assigned before its object was saved follows it."""
    monkeypatch.setattr(rows, "MAX_PARAMS", 40)  # three or four events a statement
    customers = [Customer(display_name=f"Kunde {n}", email=f"k{n}@example.com") for n in range(3)]
    events = [TimelineEvent(customer=customers[n % 3], kind="note", source="system", summary=f"Ereignis {n}",
                            data={"n": n}, occurred_at=timezone.now(), actor_kind="system", actor_ref="test")
              for n in range(10)]
    rows.insert_many(Customer, customers)
    rows.insert_many(TimelineEvent, events)
    stored = {e.pk: (e.customer_id, e.summary, e.data) for e in TimelineEvent.objects.filter(kind="note")}
    assert stored == {e.pk: (customers[n % 3].pk, f"Ereignis {n}", {"n": n}) for n, e in enumerate(events)}
    assert all(not e._state.adding for e in events)


def test_insert_many_refuses_a_relation_to_an_unsaved_object():
    unsaved = Customer(display_name="Nobody", email="nobody@example.com")
    event = TimelineEvent(customer=unsaved, kind="note", source="system", summary="s", data={},
                          occurred_at=timezone.now(), actor_kind="system", actor_ref="test")
    with pytest.raises(ValueError, match="unsaved related object 'customer'"):
        rows.insert_many(TimelineEvent, [event])
    assert not TimelineEvent.objects.filter(kind="note").exists()


def test_update_many_writes_each_row_its_own_values(monkeypatch):
    customers = rows.insert_many(Customer, [Customer(display_name=f"K{n}", email=f"u{n}@example.com")
                                            for n in range(7)])
    monkeypatch.setattr(rows, "MAX_PARAMS", 9)  # two rows of (id, name, updated_at) and the ids a statement
    when = timezone.now()
    for n, customer in enumerate(customers):
        customer.display_name, customer.updated_at = f"Renamed {n}", when
    rows.update_many(Customer, customers[:5], ["display_name", "updated_at"])
    stored = dict(Customer.objects.filter(pk__in=[c.pk for c in customers]).values_list("pk", "display_name"))
    assert stored == {c.pk: (f"Renamed {n}" if n < 5 else f"K{n}") for n, c in enumerate(customers)}


def test_from_row_loads_what_the_orm_loads():
    """Built without Model.__init__, an order (an FSM state, django-fsm's record of it) and an exception
    are the instances a queryset loads: the same values, the same state, saved as loaded."""
    from tests.factories import make_order

    customer = make_customer()
    order = make_order(customer, state="paid")
    exception = rows.insert_returning_pk(ExceptionCase(
        kind="at_risk", subject_key=f"customer:{customer.pk}", customer=customer, severity=3, summary="s",
        evidence={"a": [1]}, due_at=timezone.now(), opened_at=timezone.now()))
    for model, pk in ((Order, order.pk), (ExceptionCase, exception.pk)):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {rows.columns(model)} FROM {model._meta.db_table} WHERE id = %s", [pk])
            built = rows.from_row(model, cursor.fetchone())
        loaded = model.objects.get(pk=pk)
        assert {k: v for k, v in vars(built).items() if k != "_state"} == {
            k: v for k, v in vars(loaded).items() if k != "_state"}
        assert (built._state.adding, built._state.db) == (False, loaded._state.db)
    built.summary = "saved"  # the exception as loaded: saved by its concurrency-checked save
    built.save(update_fields=["summary"])
    assert ExceptionCase.objects.get(pk=pk).summary == "saved"


def test_new_builds_what_the_model_builds():
    """rows.new without Model.__init__: the same values, defaults, cached relations and state as
    model(**values), for a relation given as an instance, as None or by its id, and an FSM model."""
    customer = make_customer()
    now = timezone.now()
    cases = [
        (TimelineEvent, {"customer": customer, "order": None, "kind": "note", "source": "system", "summary": "s",
                         "actor_kind": "system", "actor_user": None, "actor_ref": "test"}),
        (TimelineEvent, {"customer_id": customer.pk, "kind": "note", "source": "system", "summary": "s",
                         "data": {"a": 1}, "occurred_at": now, "actor_kind": "system", "actor_ref": "test"}),
        (Order, {"customer": customer, "system": "woocommerce", "namespace": "shop", "external_id": "1",
                 "number": "1", "currency": "EUR", "total": Decimal("1.00"), "placed_at": now, "state": "paid",
                 "state_changed_at": now, "created_at": now}),
    ]
    for model, values in cases:
        built, made = rows.new(model, **values), model(**values)

        def seen(instance):
            fields = {k: v for k, v in vars(instance).items() if k != "_state"}
            if "occurred_at" in fields and "occurred_at" not in values:  # a default of now: two instants
                assert fields.pop("occurred_at") is not None
            return fields, instance._state.adding, instance._state.db, dict(instance._state.fields_cache)

        assert seen(built) == seen(made)
    with pytest.raises(TypeError):
        rows.new(TimelineEvent, nonsense=1)
