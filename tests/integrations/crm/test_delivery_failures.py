"""When the CRM refuses: retries with backoff, a 429 waits its window, dead letters after the last
attempt open one sync_failure per cause (resolved once they are replayed and delivered), a refused
token opens sync_failure with the adapter's sentence, and an agent without a HubSpot owner opens
one sync_failure, not one per customer."""

from datetime import timedelta

import pytest

from integrations.crm import failures
from integrations.crm.base import CrmError
from integrations.crm.connections import crm_connection_check
from integrations.crm.outcomes import MAX_ATTEMPTS, backoff
from integrations.crm.models import OutboundMessage
from integrations.crm.outbox import outbound_messages_replay
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind
from lifecycle.services.errors import PermissionDenied
from tests.factories import make_agent, make_customer, make_owned_customer, make_user
from tests.integrations.crm.outbox_support import (  # noqa: F401
    TASK, auth_error, clock, connection, crm, deliver, messages, server_error)

pytestmark = pytest.mark.django_db
M = OutboundMessage.State
F = OutboundMessage.Field


def sync_failures(connection, suffix=""):
    return list(ExceptionCase.objects.filter(kind=ExceptionKind.SYNC_FAILURE,
                                             subject_key__startswith=f"crm:{connection.pk}/{suffix}"))


def test_a_server_error_is_retried_with_backoff_and_delivered_later(connection, crm, deliver, clock):
    make_customer(email="later@example.com")
    crm.fail.append(server_error())
    report = deliver()
    assert report.retrying == 2 and report.stopped
    waiting = messages(state=M.PENDING)
    assert {m.attempts for m in waiting} == {1} and {m.error_kind for m in waiting} == {"server"}
    assert all(m.next_attempt_at >= clock() + backoff(1) - timedelta(seconds=5) for m in waiting)
    assert deliver().delivered == 0  # not due yet: nothing is sent
    clock.shift(seconds=backoff(1).total_seconds() + 1)
    assert deliver().delivered == 2 and "later@example.com" in crm.contacts


def test_a_429_waits_its_window_and_counts_no_attempt(connection, crm, deliver, clock):
    make_customer()
    crm.fail.append(CrmError("rate_limit", "HubSpot's daily limit is spent.", retry_after=3600, policy="DAILY"))
    deliver()
    waiting = messages(state=M.PENDING)
    assert {m.attempts for m in waiting} == {0}
    assert all(abs((m.next_attempt_at - clock()).total_seconds() - 3600) < 5 for m in waiting)


def test_after_the_last_attempt_the_messages_are_dead_letters_with_one_sync_failure(connection, crm, deliver, clock):
    make_customer(email="a@example.com")
    make_customer(email="b@example.com")
    crm.fail.extend(server_error() for _ in range(MAX_ATTEMPTS))
    for _ in range(MAX_ATTEMPTS):
        deliver()
        clock.shift(hours=2)
    dead = messages(state=M.DEAD)
    assert len(dead) == 4 and {m.attempts for m in dead} == {MAX_ATTEMPTS}
    [failure] = sync_failures(connection, "dead/")
    assert failure.subject_key == failures.dead_subject(connection, "server")
    assert failure.evidence["dead"] == 4 and "502" in failure.evidence["last_error"]
    assert "4 changes could not be sent" in failure.summary


def test_replayed_dead_letters_are_delivered_and_resolve_their_sync_failure(connection, crm, deliver, clock):
    make_customer(email="replay@example.com")
    crm.fail.extend(server_error() for _ in range(MAX_ATTEMPTS))
    for _ in range(MAX_ATTEMPTS):
        deliver()
        clock.shift(hours=2)
    dead = messages(state=M.DEAD)
    operations = Actor.for_user(make_user(group="Operations"))
    assert outbound_messages_replay(messages=dead, actor=operations) == 2
    assert deliver().delivered == 2 and "replay@example.com" in crm.contacts
    [failure] = sync_failures(connection, "dead/")
    assert failure.status == "resolved"


def test_only_operations_replay(connection):
    with pytest.raises(PermissionDenied):
        outbound_messages_replay(messages=[], actor=Actor.for_user(make_user(group="Support agent")))


def test_replaying_an_older_dead_letter_never_overwrites_a_newer_change(connection, crm, deliver, clock):
    agent_one, agent_two = make_agent(teams=["commerce"]), make_agent(teams=["commerce"])
    crm.add_owner(agent_one, "1"), crm.add_owner(agent_two, "2")
    customer = make_owned_customer(email="order@example.com")
    first = messages(customer=customer, field=F.OWNER)[0]
    OutboundMessage.objects.filter(pk=first.pk).update(state=M.DEAD, error_kind="server")
    OutboundMessage.objects.exclude(pk=first.pk).update(state=M.DELIVERED)
    from lifecycle.services.ownership import owner_reassign

    target = agent_two if first.value["agent"] == agent_one.pk else agent_one
    owner_reassign(customer=customer, team=target.teams.get(), agent=target, reason="Handover",
                   actor=Actor.for_user(make_user(group="Manager")))
    deliver()
    outbound_messages_replay(messages=[first], actor=Actor.for_user(make_user(group="Operations")))
    deliver()
    first.refresh_from_db()
    assert first.state == M.SUPERSEDED
    assert crm.sent("order@example.com")["hubspot_owner_id"] == ("2" if target == agent_two else "1")


def test_a_contact_the_crm_refuses_is_a_dead_letter_with_its_sentence(connection, crm, deliver):
    make_customer(email="bad@example.com")
    make_customer(email="good@example.com")
    crm.refuse["bad@example.com"] = "Property values were not valid: firstname is too long."
    report = deliver()
    assert report.dead == 2 and report.delivered == 2
    [failure] = sync_failures(connection, "dead/")
    assert failure.subject_key.endswith("/dead/item") and failure.evidence["dead"] == 2
    assert "firstname is too long" in failure.evidence["last_error"]


def test_a_refused_token_opens_sync_failure_at_once_and_the_messages_wait_for_a_check(connection, crm, deliver):
    make_customer(email="wait@example.com")
    crm.fail.append(auth_error())
    deliver()
    [failure] = sync_failures(connection, "access")
    assert failure.summary == "HubSpot: HubSpot refused the access token (401): it is wrong, expired or revoked."
    waiting = messages(state=M.PENDING)
    assert {m.attempts for m in waiting} == {0} and {m.error_kind for m in waiting} == {"auth"}
    make_customer(email="second@example.com")  # written meanwhile: it waits for the check too
    report = deliver()
    assert report.delivered == 0 and len(crm.calls) == 1 and "refused the access token" in report.stopped
    crm_connection_check(connection=connection, actor=TASK, adapter=crm)
    failure.refresh_from_db()
    assert failure.status == "resolved"
    assert deliver().delivered == 4


def test_a_missing_scope_at_check_opens_sync_failure_with_the_adapters_sentence(connection, crm):
    crm.check_error = CrmError("scope", "The token lacks the scopes crm.objects.owners.read.",
                               missing_scopes=["crm.objects.owners.read"])
    check = crm_connection_check(connection=connection, actor=TASK, adapter=crm)
    assert not check.ok and "crm.objects.owners.read" in check.message
    [failure] = sync_failures(connection, "access")
    assert "crm.objects.owners.read" in failure.summary
    connection.refresh_from_db()
    assert connection.check_ok is False and connection.check_message == check.message


def test_an_agent_without_a_hubspot_owner_opens_one_sync_failure_for_all_its_customers(connection, crm, deliver,
                                                                                        clock):
    agent = make_agent(make_user("nobody-in-hubspot"), teams=["commerce"])
    for n in range(5):
        make_owned_customer(email=f"c{n}@example.com")
    report = deliver()
    assert report.parked == 5 and report.delivered == 15  # name, stage and the order's deal went; the owner waits
    assert all("hubspot_owner_id" not in crm.sent(f"c{n}@example.com") for n in range(5))
    deliver()
    [failure] = sync_failures(connection, "owners")
    assert failure.evidence["agents"] == [{"agent_id": agent.pk, "name": "nobody-in-hubspot",
                                           "email": "nobody-in-hubspot@example.com"}]
    assert failure.evidence["waiting"] == 5 and "nobody-in-hubspot" in failure.summary
    crm.add_owner(agent, "8001")
    crm_connection_check(connection=connection, actor=TASK, adapter=crm)
    assert deliver().delivered == 5
    assert all(crm.sent(f"c{n}@example.com")["hubspot_owner_id"] == "8001" for n in range(5))
    failure.refresh_from_db()
    assert failure.status == "resolved"
