"""Writing the CRM's outbox: every new customer, handoff and stage move writes its message in the
same transaction (rolled back with it), once per batch, and only while a CRM is connected."""

from unittest import mock

import pytest
from django.db import connection as db, transaction
from django.test.utils import CaptureQueriesContext

from integrations.crm import outbox
from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import Customer, Stage
from lifecycle.services.customers import customers_create
from lifecycle.services.ownership import owner_reassign
from lifecycle.services.stages import customer_move_stage
from tests.factories import make_agent, make_customer, make_order, make_owned_customer, make_user, team
from tests.integrations.crm.outbox_support import connection, crm, messages  # noqa: F401

pytestmark = pytest.mark.django_db
F = OutboundMessage.Field
OUTBOX = OutboundMessage._meta.db_table


def fields_of(customer):
    return [(m.field, m.value) for m in messages(customer=customer)]


def test_a_new_customer_writes_its_contact_and_stage(connection):
    customer = make_customer(name="Ada Lovelace", email="ada@example.com", phone="+44 20 7946 0000")
    assert fields_of(customer) == [(F.CONTACT, {"name": "Ada Lovelace", "phone": "+442079460000"}),
                                   (F.STAGE, {"stage": Stage.PROSPECT})]
    [contact, _] = messages(customer=customer)
    assert contact.connection == connection and contact.state == OutboundMessage.State.PENDING
    assert contact.idempotency_key == f"{connection.pk}:contact:{customer.pk}"


def test_a_first_order_writes_the_stage_move_and_the_handoff_in_its_transaction(connection):
    agent = make_agent(teams=["commerce"])
    customer = make_owned_customer()
    stage, owner = messages(customer=customer, field__in=[F.STAGE, F.OWNER])[1:]
    assert stage.value == {"stage": Stage.PURCHASED}
    assert owner.value == {"team": team("commerce").pk, "agent": agent.pk}
    handoff = customer.handoffs.get()
    assert owner.idempotency_key == f"{connection.pk}:owner:{handoff.pk}"


def test_a_reassignment_and_a_manual_stage_move_each_write_one_message(connection):
    customer = make_owned_customer(paid=True)
    manager = make_user(group="Manager")
    agent = make_agent(teams=["success"])
    before = len(messages(customer=customer))
    owner_reassign(customer=customer, team=team("success"), agent=agent, reason="VIP", actor=Actor.for_user(manager))
    customer_move_stage(customer=customer, transition="flag_at_risk", actor=Actor.for_user(manager))
    new = messages(customer=customer)[before:]
    assert [(m.field, m.value) for m in new][:2] == [(F.OWNER, {"team": team("success").pk, "agent": agent.pk}),
                                                    (F.STAGE, {"stage": Stage.AT_RISK})]


def test_a_rolled_back_change_leaves_no_message(connection):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_customer(email="gone@example.com")
        raise RuntimeError("the import failed after the customer")
    assert not Customer.objects.filter(email="gone@example.com").exists()
    assert not OutboundMessage.objects.exists()


def test_nothing_is_written_without_an_active_connection_and_it_costs_one_query(crm):
    with CaptureQueriesContext(db) as queries:
        make_customer()
    crm_queries = [q["sql"] for q in queries if "crm_" in q["sql"]]
    assert len(crm_queries) == 1 and crm_queries[0].startswith("SELECT")
    assert not OutboundMessage.objects.exists()


def test_an_inactive_connection_gets_no_messages(connection):
    CrmConnection.objects.filter(pk=connection.pk).update(is_active=False)
    make_customer()
    assert not OutboundMessage.objects.exists()


def test_a_batch_of_new_customers_is_one_insert_and_one_wake_up(connection, django_capture_on_commit_callbacks):
    new = [(Customer(display_name=f"Guest {n}", email=f"guest{n}@example.com"), [], Actor.system("tests"))
           for n in range(30)]
    with mock.patch.object(outbox, "kick") as kick, django_capture_on_commit_callbacks(execute=True):
        with CaptureQueriesContext(db) as queries, transaction.atomic():
            customers_create(new, [])
    inserts = [q for q in queries if q["sql"].startswith(f'INSERT INTO "{OUTBOX}"')]
    assert len(inserts) == 1
    assert OutboundMessage.objects.filter(field=F.CONTACT).count() == 30
    kick.assert_called_once_with(connection.pk)


def test_the_same_change_cannot_be_queued_twice(connection):
    customer = make_customer()
    keys = list(OutboundMessage.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys)) == 2
    assert OutboundMessage._meta.get_field("idempotency_key").unique
    with pytest.raises(Exception), transaction.atomic():
        OutboundMessage.objects.create(connection=connection, customer=customer, field=F.CONTACT,
                                       idempotency_key=keys[0])


def test_an_order_that_changes_no_stage_writes_no_stage_message(connection):
    customer = make_owned_customer()
    before = len(messages(customer=customer, field=F.STAGE))
    make_order(customer, state="pending_payment")  # a second unpaid order: still purchased
    assert len(messages(customer=customer, field=F.STAGE)) == before
