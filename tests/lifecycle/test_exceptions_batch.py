"""A batch of raises (exceptions_raise): the open ones are refreshed, the new ones opened, the closed
ones reopened, each as exception_raise would have done it alone; per-raise queue and SLA overrides."""

from datetime import timedelta

import pytest

from lifecycle.models import ExceptionCase, ExceptionKind, Team, TimelineEvent
from lifecycle.services import sla
from lifecycle.services.exceptions import Raise, exception_raise, exception_resolve, exceptions_raise
from tests.factories import SYSTEM, make_owned_customer
from tests.lifecycle.test_sla import utc
from tests.lifecycle.test_sla_sweep import freeze

pytestmark = pytest.mark.django_db
K = ExceptionKind


def test_one_batch_refreshes_opens_and_reopens_each_subject_as_a_single_raise_would(monkeypatch):
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    open_one, closed_one, new_one = (make_owned_customer() for _ in range(3))
    first, _ = exception_raise(kind=K.AT_RISK, subject_key=f"customer:{open_one.pk}", summary="health 35",
                               customer=open_one, actor=SYSTEM)
    exception_raise(kind=K.AT_RISK, subject_key=f"customer:{closed_one.pk}", summary="health 30",
                    customer=closed_one, actor=SYSTEM)
    exception_resolve(kind=K.AT_RISK, subject_key=f"customer:{closed_one.pk}", reason="health 60", actor=SYSTEM)

    results = exceptions_raise(kind=K.AT_RISK, actor=SYSTEM, raises=[
        Raise(subject_key=f"customer:{c.pk}", summary=f"health of {c.pk}", evidence={"id": c.pk}, customer=c.pk)
        for c in (open_one, closed_one, new_one)])

    (refreshed, r_opened), (reopened, o_opened), (opened, n_opened) = results
    assert (r_opened, o_opened, n_opened) == (False, True, True)
    assert refreshed.pk == first.pk and refreshed.occurrences == 2 and refreshed.evidence == {"id": open_one.pk}
    assert reopened.reopened_count == 1 and reopened.status == "open"
    stored = ExceptionCase.objects.get(pk=opened.pk)
    assert (stored.customer_id, stored.queue.slug, stored.summary) == (new_one.pk, "commerce", f"health of {new_one.pk}")
    assert stored.due_at == utc(2026, 6, 2, 10)  # the policy's one business day
    assert ExceptionCase.objects.filter(kind=K.AT_RISK, status="open").count() == 3
    assert TimelineEvent.objects.filter(kind="exception_opened", customer=new_one, data__exception_id=opened.pk).exists()


def test_a_raise_may_name_its_own_queue_and_sla(monkeypatch):
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    customer = make_owned_customer()
    support = Team.objects.get(slug="support")
    [(exception, opened)] = exceptions_raise(kind=K.MISSED_TOUCHPOINT, actor=SYSTEM, raises=[
        Raise(subject_key="step:1", summary="Delivery check-in missed", customer=customer, queue_id=support.pk,
              sla_minutes=120)])
    stored = ExceptionCase.objects.get(pk=exception.pk)
    policy = sla.policy_for(K.MISSED_TOUCHPOINT)
    assert opened and stored.queue_id == support.pk and policy.sla_minutes != 120
    assert stored.due_at == sla.due_at(policy, support.pk, utc(2026, 6, 1, 10), minutes=120)
    assert utc(2026, 6, 1, 10) < stored.due_at <= utc(2026, 6, 1, 10) + timedelta(days=3)


def test_a_large_batch_opens_every_exception_with_its_event():
    customers = [make_owned_customer() for _ in range(30)]
    results = exceptions_raise(kind=K.AT_RISK, actor=SYSTEM, raises=[
        Raise(subject_key=f"customer:{c.pk}", summary="low", customer=c) for c in customers])
    assert all(opened for _, opened in results)
    ids = {e.pk for e, _ in results}
    assert len(ids) == 30 and ExceptionCase.objects.filter(pk__in=ids, status="open").count() == 30
    assert TimelineEvent.objects.filter(kind="exception_opened", data__exception_id__in=list(ids)).count() == 30
    again = exceptions_raise(kind=K.AT_RISK, actor=SYSTEM, raises=[
        Raise(subject_key=f"customer:{c.pk}", summary="lower", customer=c) for c in customers])
    assert not any(opened for _, opened in again) and {e.pk for e, _ in again} == ids


def test_a_subject_named_twice_in_one_batch_is_raised_once_with_its_last_word():
    customer = make_owned_customer()
    results = exceptions_raise(kind=K.AT_RISK, actor=SYSTEM, raises=[
        Raise(subject_key="customer:x", summary="first", customer=customer),
        Raise(subject_key="customer:x", summary="second", customer=customer)])
    assert results[0][0].pk == results[1][0].pk
    assert ExceptionCase.objects.get(subject_key="customer:x").summary == "second"
