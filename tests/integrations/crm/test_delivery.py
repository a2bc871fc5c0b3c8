"""Delivering the CRM's outbox: new customers reach the CRM with their owner and stage, batches of at
most 100 reach the adapter, newest wins per customer and field, backward stages are sent as such."""

import pytest

from integrations.crm.base import Owner, StageOption
from integrations.crm.delivery import BATCH, outbox_deliver
from integrations.crm.models import CrmContact, CrmStageMapping, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.models import Customer
from lifecycle.services.customers import customers_create
from lifecycle.services.ownership import owner_reassign
from lifecycle.services.stages import customer_move_stage
from tests.factories import make_agent, make_customer, make_owned_customer, make_user, team
from tests.integrations.crm.outbox_support import (  # noqa: F401
    TASK, FakeCrm, clock, connection, crm, deliver, messages, server_error)

pytestmark = pytest.mark.django_db
M = OutboundMessage.State
F = OutboundMessage.Field


@pytest.fixture
def agent(crm):
    agent = make_agent(make_user("grace", first_name="Grace", last_name="Hopper"), teams=["commerce", "success"])
    crm.add_owner(agent, "7001")
    return agent


def test_a_new_customer_appears_in_the_crm_with_its_name_owner_and_stage(connection, crm, agent, deliver):
    customer = make_owned_customer(name="Ada Lovelace", email="ada@example.com")
    report = deliver()
    assert crm.sent("ada@example.com") == {"firstname": "Ada", "lastname": "Lovelace",
                                           "lifecyclestage": "opportunity", "hubspot_owner_id": "7001"}
    # Its first stage (prospect) was replaced by purchased before anything went: never sent. Its
    # order went as a deal after the contact: name, owner, stage and the deal are four deliveries.
    assert (report.delivered, report.superseded) == (4, 1) and not messages(state=M.PENDING)
    [deal] = crm.deals.values()
    assert deal["properties"]["dealstage"] == "appointmentscheduled"
    assert messages(customer=customer, field=F.STAGE)[0].state == M.SUPERSEDED
    contact = CrmContact.objects.get(connection=connection, customer=customer)
    assert contact.contact_id == crm.contacts["ada@example.com"]["id"]
    assert contact.pushed["hubspot_owner_id"] == "7001" and contact.pushed["lifecyclestage"] == "opportunity"


def test_one_contact_change_per_customer_carries_all_its_fields(connection, crm, agent, deliver):
    make_owned_customer(email="one@example.com")
    deliver()
    [[change]] = crm.calls
    assert change.email == "one@example.com" and not change.stage_backward
    assert set(change.properties) == {"firstname", "lastname", "lifecyclestage", "hubspot_owner_id"}


def test_batches_of_at_most_100_reach_the_adapter(connection, crm, deliver):
    new = [(Customer(display_name=f"Guest {n}", email=f"guest{n}@example.com"), [], Actor.system("tests"))
           for n in range(250)]
    customers_create(new, [])
    report = deliver()
    assert [len(call) for call in crm.calls] == [BATCH, BATCH, 50]
    assert report.delivered == 500 and len(crm.contacts) == 250


def test_newest_wins_when_both_changes_are_in_one_batch(connection, crm, agent, deliver):
    customer = make_owned_customer(email="twice@example.com")
    other = make_agent(make_user("linus"), teams=["commerce"])
    crm.add_owner(other, "7002")
    manager = Actor.for_user(make_user(group="Manager"))
    owner_reassign(customer=customer, team=team("commerce"), agent=other, reason="Speaks Finnish", actor=manager)
    older, newer = messages(customer=customer, field=F.OWNER)
    deliver()
    assert crm.sent("twice@example.com")["hubspot_owner_id"] == "7002"
    older.refresh_from_db(), newer.refresh_from_db()
    assert (older.state, newer.state) == (M.SUPERSEDED, M.DELIVERED)
    assert [c.properties.get("hubspot_owner_id") for call in crm.calls for c in call] == ["7002"]


def test_an_older_change_retried_after_a_newer_one_was_delivered_is_never_sent(connection, crm, agent, deliver,
                                                                               clock):
    customer = make_owned_customer(email="retry@example.com")
    crm.fail.append(server_error())
    deliver()  # the first owner (Grace) fails and waits its backoff
    [older] = messages(customer=customer, field=F.OWNER)
    assert older.state == M.PENDING and older.attempts == 1 and older.next_attempt_at > clock()
    other = make_agent(make_user("linus"), teams=["commerce"])
    crm.add_owner(other, "7002")
    owner_reassign(customer=customer, team=team("commerce"), agent=other, reason="Handover",
                   actor=Actor.for_user(make_user(group="Manager")))
    OutboundMessage.objects.filter(field=F.OWNER).exclude(pk=older.pk).update(next_attempt_at=clock())
    deliver()  # the newer owner goes; the older still waits
    assert crm.sent("retry@example.com")["hubspot_owner_id"] == "7002"
    clock.shift(hours=2)
    deliver()  # the older one's retry comes due: superseded, not sent
    older.refresh_from_db()
    assert older.state == M.SUPERSEDED
    assert crm.sent("retry@example.com")["hubspot_owner_id"] == "7002"


def test_a_customer_back_with_its_team_and_no_agent_has_no_crm_owner(connection, crm, agent, deliver):
    customer = make_owned_customer(email="team@example.com")
    deliver()
    owner_reassign(customer=customer, team=team("success"), agent=None, reason="Back to the pool",
                   actor=Actor.for_user(make_user(group="Manager")))
    deliver()
    assert crm.sent("team@example.com")["hubspot_owner_id"] == ""


def test_a_backward_stage_move_is_sent_as_one(connection, crm, agent, deliver):
    customer = make_owned_customer(paid=True, email="back@example.com")
    manager = Actor.for_user(make_user(group="Manager"))
    customer_move_stage(customer=customer, transition="activate", actor=manager)
    customer_move_stage(customer=customer, transition="make_loyal", actor=manager)
    deliver()
    assert crm.sent("back@example.com")["lifecyclestage"] == "evangelist"
    customer_move_stage(customer=customer, transition="back_to_active", actor=manager, reason="Cooled down")
    deliver()
    last = crm.calls[-1][0]
    assert last.stage_backward and last.properties["lifecyclestage"] == "customer"
    assert crm.sent("back@example.com")["lifecyclestage"] == "customer"


def test_a_stage_the_crm_kept_later_goes_again_as_a_backward_move(connection, crm, deliver):
    make_customer(email="known@example.com")  # a contact HubSpot had before the console pushed it
    crm.contacts["known@example.com"] = {"id": "42", "properties": {"lifecyclestage": "customer"}}
    report = deliver()
    assert [c.stage_backward for call in crm.calls for c in call] == [False, True]
    assert crm.sent("known@example.com")["lifecyclestage"] == "lead" and report.resent == 1
    assert not messages(state=M.PENDING)


def test_a_stage_mapped_to_nothing_is_not_sent(connection, crm, deliver):
    CrmStageMapping.objects.filter(connection=connection, stage="prospect").update(hubspot_stage="")
    customer = make_customer(email="quiet@example.com")
    deliver()
    assert "lifecyclestage" not in crm.sent("quiet@example.com")
    stage = messages(customer=customer, field=F.STAGE)[0]
    assert stage.state == M.SKIPPED and "not mapped" in stage.last_error


def test_a_customer_without_email_is_not_sent(connection, crm, deliver):
    customer = make_customer(email=None, phone="+33 1 23 45 67 89")
    Customer.objects.filter(pk=customer.pk).update(email="")
    deliver()
    assert not crm.calls
    assert {m.state for m in messages(customer=customer)} == {M.SKIPPED}


def test_custom_stages_are_ordered_as_the_account_orders_them(connection, deliver, clock):
    custom = FakeCrm(stages=[StageOption("subscriber", "Subscriber", 0), StageOption("1234567", "Onboarded", 1),
                             StageOption("customer", "Customer", 2)])
    from integrations.crm.connections import crm_connection_check

    crm_connection_check(connection=connection, actor=TASK, adapter=custom)
    CrmStageMapping.objects.filter(connection=connection, stage="prospect").update(hubspot_stage="1234567")
    make_customer(email="custom@example.com")
    deliver(adapter=custom)
    assert custom.sent("custom@example.com")["lifecyclestage"] == "1234567"


def test_a_second_run_while_one_delivers_leaves_it_alone(connection, crm, clock):
    make_customer()

    class Reentrant(FakeCrm):
        def upsert_contacts(self, changes):
            self.inner = outbox_deliver(connection=connection, actor=TASK, adapter=crm, clock=clock)
            return super().upsert_contacts(changes)

    outer = Reentrant()
    report = outbox_deliver(connection=connection, actor=TASK, adapter=outer, clock=clock)
    assert outer.inner.busy and report.delivered == 2 and not crm.calls


def test_archived_owners_take_no_customers(connection, deliver):
    agent = make_agent(teams=["commerce"])
    archived = FakeCrm(owners=[Owner("9", agent.user.email, archived=True)])
    make_owned_customer(email="arch@example.com")
    deliver(adapter=archived)
    assert "hubspot_owner_id" not in archived.sent("arch@example.com")
    assert messages(field=F.OWNER)[0].error_kind == "no_owner"


def test_a_lease_left_by_a_dead_worker_runs_out(connection, crm, deliver, clock):
    from integrations.crm.leases import LEASE
    from integrations.crm.models import CrmConnection

    make_customer(email="stuck@example.com")
    CrmConnection.objects.filter(pk=connection.pk).update(delivering_until=clock() + LEASE, delivering_by="dead")
    assert deliver().busy and not crm.calls
    clock.shift(seconds=LEASE.total_seconds() + 1)
    assert deliver().delivered == 2
    assert CrmConnection.objects.filter(pk=connection.pk, delivering_by="").exists()  # released
