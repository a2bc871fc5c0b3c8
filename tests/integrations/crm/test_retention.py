"""Pruning the outbox: done messages (delivered, superseded, not sent) go after 30 days, in bounded
batches; dead letters and pending messages stay whatever their age; the beat runs it every hour."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from integrations.crm.models import OutboundMessage
from integrations.crm.retention import outbox_prune
from integrations.crm.tasks import prune_crm_outbox
from tests.factories import make_customer
from tests.integrations.crm.outbox_support import connection, crm  # noqa: F401

pytestmark = pytest.mark.django_db
M = OutboundMessage.State


def message(connection, customer, state, days_old, n):
    written = timezone.now() - timedelta(days=days_old)
    return OutboundMessage.objects.create(connection=connection, customer=customer, field="owner", state=state,
                                          value={}, idempotency_key=f"test:{n}", created_at=written)


def test_done_messages_older_than_30_days_go_and_what_needs_someone_stays(connection):
    # given: a month and a half of messages in every state, and some of this week (and the new
    # customer's own, pending)
    customer = make_customer()
    new = set(OutboundMessage.objects.values_list("pk", flat=True))
    old = {state: message(connection, customer, state, 45, n) for n, state in enumerate(M.values)}
    recent = message(connection, customer, M.DELIVERED, 3, 99)

    # when: the prune runs, two rows a statement
    deleted = outbox_prune(batch=2)

    # then: the old delivered, superseded and skipped ones are gone, the rest kept
    left = set(OutboundMessage.objects.values_list("pk", flat=True))
    assert deleted == 3
    assert left == {old[M.PENDING].pk, old[M.DEAD].pk, recent.pk} | new
    assert outbox_prune() == 0  # a rerun finds nothing more


def test_the_beat_prunes_every_hour(connection):
    task = PeriodicTask.objects.get(name="prune-crm-outbox")
    assert task.task == "integrations.crm.tasks.prune_crm_outbox" and task.enabled
    assert (task.interval.every, task.interval.period) == (1, "hours")
    message(connection, make_customer(), M.SUPERSEDED, 31, 1)
    assert prune_crm_outbox() == 1
