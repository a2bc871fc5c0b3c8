"""One open exception per (kind, subject): repeated raises refresh it; resolving lets it reopen."""

import pytest
from django.db import IntegrityError, transaction

from lifecycle.models import ExceptionCase, ExceptionKind, TimelineEvent
from lifecycle.services.exceptions import exception_raise, exception_resolve
from tests.factories import SYSTEM, make_owned_customer
from tests.lifecycle.test_ownership import _race

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
    assert TimelineEvent.objects.filter(customer=customer, kind="exception_opened").count() == 1


def test_the_database_refuses_a_second_open_exception_for_one_subject():
    exception_raise(kind=K.SYNC_FAILURE, subject_key="store:main", summary="401", actor=SYSTEM)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExceptionCase.objects.create(kind=K.SYNC_FAILURE, subject_key="store:main", summary="dup")


def test_resolved_exception_reopens_as_a_new_one_when_the_condition_recurs():
    key = "store:main/status:shipped"
    exception_raise(kind=K.UNMAPPED_STATUS, subject_key=key, summary="shipped", actor=SYSTEM)
    resolved = exception_resolve(kind=K.UNMAPPED_STATUS, subject_key=key, reason="mapped to shipped", actor=SYSTEM)
    assert resolved.status == "resolved" and resolved.resolution_reason == "mapped to shipped"
    assert exception_resolve(kind=K.UNMAPPED_STATUS, subject_key=key, reason="again", actor=SYSTEM) is None
    _, opened = exception_raise(kind=K.UNMAPPED_STATUS, subject_key=key, summary="shipped", actor=SYSTEM)
    assert opened
    assert ExceptionCase.objects.filter(subject_key=key).count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_raises_leave_one_open_exception():
    results = _race(4, lambda i: exception_raise(
        kind=K.SYNC_FAILURE, subject_key="store:race", summary=f"attempt {i}", actor=SYSTEM))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(opened for _, opened in results) == 1
    only = ExceptionCase.objects.get(subject_key="store:race")
    assert only.occurrences == 4
