"""One open exception per (kind, subject): repeated raises refresh it; a recurrence reopens the closed one."""

import pytest
from django.db import IntegrityError, transaction

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, Severity, TimelineEvent
from lifecycle.services import timeline
from lifecycle.services.exceptions import exception_raise, exception_resolve, exceptions_resolve
from tests.factories import SYSTEM, make_order, make_owned_customer, make_user
from tests.concurrency import race
from tests.lifecycle.test_sla import utc
from tests.lifecycle.test_sla_sweep import freeze

pytestmark = pytest.mark.django_db
K = ExceptionKind


def test_repeated_raises_update_the_open_exception_instead_of_opening_another():
    customer = make_owned_customer()
    first, opened = exception_raise(kind=K.AT_RISK, subject_key=f"customer:{customer.pk}", summary="health 35",
                                    evidence={"health": 35}, customer=customer, actor=SYSTEM)
    again, opened_again = exception_raise(kind=K.AT_RISK, subject_key=f"customer:{customer.pk}",
                                          summary="health 30", evidence={"health": 30}, customer=customer, actor=SYSTEM)
    assert opened and not opened_again and again.pk == first.pk
    again.refresh_from_db()
    assert (again.evidence, again.occurrences, again.queue.slug) == ({"health": 30}, 2, "commerce")
    assert TimelineEvent.objects.filter(kind="exception_opened", data__exception_id=first.pk).count() == 1


def test_a_repeated_raise_returns_the_exception_as_stored():
    # given an open at-risk exception
    customer = make_owned_customer()
    key = f"customer:{customer.pk}"
    first, _ = exception_raise(kind=K.AT_RISK, subject_key=key, summary="health 35", evidence={"health": 35},
                               customer=customer, actor=SYSTEM)
    # when it is raised again, more severe and with nested evidence
    again, opened = exception_raise(kind=K.AT_RISK, subject_key=key, summary="health 20",
                                    evidence={"health": 20, "signals": [{"late": 2}]}, customer=customer,
                                    severity=Severity.HIGH, actor=SYSTEM)
    # then the returned exception is the stored row, field for field (JSON and times as the ORM reads them)
    stored = ExceptionCase.objects.get(pk=first.pk)
    fields = [f.attname for f in ExceptionCase._meta.concrete_fields]
    assert not opened and not again._state.adding
    assert {f: getattr(again, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert (again.evidence, again.severity, again.occurrences) == ({"health": 20, "signals": [{"late": 2}]}, 3, 2)


def test_the_database_refuses_a_second_open_exception_for_one_subject():
    exception_raise(kind=K.SYNC_FAILURE, subject_key="store:main", summary="401", actor=SYSTEM)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExceptionCase.objects.create(kind=K.SYNC_FAILURE, subject_key="store:main", summary="dup")


def test_a_resolved_exception_is_reopened_not_duplicated_when_the_condition_recurs(monkeypatch):
    # given an unmapped status (managers' queue, 1 business day) raised Monday 10:00 UTC and then
    # resolved once its mapping was added
    key = "store:main/status:shipped"
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    first, _ = exception_raise(kind=K.UNMAPPED_STATUS, subject_key=key, summary="shipped", actor=SYSTEM)
    assert first.due_at == utc(2026, 6, 2, 10)
    resolved = exception_resolve(kind=K.UNMAPPED_STATUS, subject_key=key, reason="mapped to shipped", actor=SYSTEM)
    assert resolved.status == "resolved" and resolved.resolution_reason == "mapped to shipped"
    assert resolved.closed_at is not None
    assert exception_resolve(kind=K.UNMAPPED_STATUS, subject_key=key, reason="again", actor=SYSTEM) is None
    # when the status shows up unmapped again on Wednesday 12:00
    freeze(monkeypatch, utc(2026, 6, 3, 12))
    again, opened = exception_raise(kind=K.UNMAPPED_STATUS, subject_key=key, summary="shipped (again)",
                                    evidence={"raw": "shipped"}, actor=SYSTEM)
    # then the same record is open again, with a fresh clock and no trace of being closed
    assert opened and again.pk == first.pk
    again.refresh_from_db()
    assert (again.status, again.reopened_count, again.closed_at, again.resolution_reason) == ("open", 1, None, "")
    assert (again.summary, again.evidence, again.occurrences) == ("shipped (again)", {"raw": "shipped"}, 2)
    assert (again.opened_at, again.due_at) == (utc(2026, 6, 3, 12), utc(2026, 6, 4, 12))
    assert ExceptionCase.objects.filter(subject_key=key).count() == 1


def test_a_reopened_customer_exception_is_on_the_timeline():
    # given a customer's at-risk exception that was resolved
    customer = make_owned_customer()
    key = f"customer:{customer.pk}"
    exception_raise(kind=K.AT_RISK, subject_key=key, summary="health 35", customer=customer, actor=SYSTEM)
    exception_resolve(kind=K.AT_RISK, subject_key=key, reason="health back to 60", actor=SYSTEM)
    # when health falls again
    reopened, _ = exception_raise(kind=K.AT_RISK, subject_key=key, summary="health 30", customer=customer,
                                  actor=SYSTEM)
    # then one exception_reopened event says what it was closed with
    event = TimelineEvent.objects.get(customer=customer, kind="exception_reopened")
    assert event.data["exception_id"] == reopened.pk
    assert (event.data["previous_status"], event.data["previous_reason"]) == ("resolved", "health back to 60")
    assert event.data["reopened_count"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_raises_leave_one_open_exception():
    results, _ = race(4, lambda i: exception_raise(
        kind=K.SYNC_FAILURE, subject_key="store:race", summary=f"attempt {i}", actor=SYSTEM))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(opened for _, opened in results) == 1
    only = ExceptionCase.objects.get(subject_key="store:race")
    assert only.occurrences == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_recurrences_reopen_the_closed_exception_once():
    # given a resolved sync failure
    exception_raise(kind=K.SYNC_FAILURE, subject_key="store:flaky", summary="timeout", actor=SYSTEM)
    exception_resolve(kind=K.SYNC_FAILURE, subject_key="store:flaky", reason="recovered", actor=SYSTEM)
    # when four workers see it fail again at the same instant
    results, _ = race(4, lambda i: exception_raise(
        kind=K.SYNC_FAILURE, subject_key="store:flaky", summary=f"timeout {i}", actor=SYSTEM))
    # then one of them reopened it and the others refreshed it: still one row, reopened once
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(opened for _, opened in results) == 1
    only = ExceptionCase.objects.get(subject_key="store:flaky")
    assert (only.status, only.reopened_count, only.occurrences) == ("open", 1, 5)


@pytest.mark.postgres
def test_resolving_in_sql_writes_exactly_the_event_the_python_builder_describes():
    # given an open exception with a customer and an order, resolved by a person, with a long reason
    customer = make_owned_customer()
    order = make_order(customer)
    exception, _ = exception_raise(kind=K.STATE_MISMATCH, subject_key=f"order:{order.pk}", customer=customer,
                                   order=order, summary="shop paid, ERP cancelled", actor=SYSTEM)
    person = Actor.for_user(make_user("resolver", group="Manager"))
    reason = "Größe passt wieder: " + "x" * 300
    # when PostgreSQL resolves it, writing the event in the same statement
    [closed] = exceptions_resolve(kind=K.STATE_MISMATCH, reasons={exception.subject_key: reason}, actor=person)
    written = TimelineEvent.objects.get(kind="exception_resolved", data__exception_id=exception.pk)
    # then it is field for field what the Python builder (the SQLite path) builds for the same row
    built = timeline.exception_resolved_event(exception=closed, actor=person)
    fields = ["customer_id", "order_id", "kind", "source", "summary", "data", "actor_kind", "actor_user_id",
              "actor_ref"]
    assert {f: getattr(written, f) for f in fields} == {f: getattr(built, f) for f in fields}
    assert written.occurred_at == ExceptionCase.objects.get(pk=exception.pk).closed_at
    assert len(written.summary) == 300
