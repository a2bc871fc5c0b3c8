"""The delivery task: on its own queue, every minute from the beat, and woken after the commit of a
change (throttled: one wake-up for many messages), delivering with the connection's adapter."""

from unittest import mock

import pytest
from celery import current_app

from console.celery import app as celery_app
from integrations.crm import connections, outbox, tasks
from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import Customer
from lifecycle.services.customers import customers_create
from tests.factories import make_customer
from tests.integrations.crm.outbox_support import connection, crm  # noqa: F401

pytestmark = pytest.mark.django_db
M = OutboundMessage.State


@pytest.fixture
def eager(monkeypatch, crm):
    """Tasks run inline when their transaction commits, against the fake CRM."""
    monkeypatch.setattr(connections, "adapter_for", lambda connection: crm)
    monkeypatch.setattr("integrations.crm.delivery.adapter_for", lambda connection: crm)
    monkeypatch.setattr(outbox, "KICK_SECONDS", 0)
    outbox.kick_reset()
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
    outbox.kick_reset()


def test_the_outbox_task_runs_on_its_own_queue_every_minute(settings):
    assert current_app.amqp.router.route({}, tasks.deliver_crm_outbox.name)["queue"].name == "crm"
    entry = settings.CELERY_BEAT_SCHEDULE["deliver-crm-outbox"]
    assert entry["task"] == tasks.deliver_crm_outbox.name and entry["schedule"] == 60.0


def test_a_change_is_delivered_after_its_commit(connection, crm, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_customer(email="now@example.com")
    assert "now@example.com" in crm.contacts
    assert not OutboundMessage.objects.filter(state=M.PENDING).exists()


def test_many_changes_wake_the_deliverer_once(connection, crm, django_capture_on_commit_callbacks):
    outbox.kick_reset()
    new = [(Customer(email=f"m{n}@example.com"), [], Actor.system("tests")) for n in range(50)]
    with mock.patch.object(tasks.deliver_crm_outbox, "apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            customers_create(new, [])
        with django_capture_on_commit_callbacks(execute=True):
            make_customer()  # inside the throttle's interval: one more, at its end
        with django_capture_on_commit_callbacks(execute=True):
            make_customer()  # that one is already due: nothing more
    assert [call.kwargs["args"] for call in queued.call_args_list] == [[connection.pk], [connection.pk]]
    assert queued.call_args_list[0].kwargs["countdown"] is None
    assert queued.call_args_list[1].kwargs["countdown"] > 0


def test_the_beat_run_delivers_every_active_connection_and_skips_inactive_ones(connection, crm, eager):
    make_customer(email="beat@example.com")
    paused = CrmConnection.objects.create(name="Paused", token="pat-x", is_active=False)
    assert tasks.deliver_crm_outbox() == {connection.pk: 2}
    assert paused.pk not in tasks.deliver_crm_outbox()
