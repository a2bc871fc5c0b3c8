"""Pulling the CRM's changes through the real HubSpotAdapter against the sandbox: contacts matched to
customers by link or email, a cursor per type saved with each page, equal stamps processed once,
and a pull that crashed midway resuming without loss or a second effect."""

import pytest

from integrations.crm import inbound
from integrations.crm.models import CrmContactState, CrmCursor
from integrations.crm.tasks import pull_crm_changes
from lifecycle.models import CustomerIdentity, IdentityKind
from tests.factories import make_customer
from tests.integrations.crm.inbound_support import (  # noqa: F401 (fixtures)
    adapter,
    agents,
    clock,
    connection,
    crm_state,
    pull,
    sandbox,
)

pytestmark = pytest.mark.django_db


def cursor(connection, object_type):
    return CrmCursor.objects.get(connection=connection, object_type=object_type)


def test_a_pull_matches_contacts_by_email_and_keeps_a_cursor_per_type(connection, adapter, sandbox, agents):
    # given: two customers the console knows (one by its email identity) and a lead it does not
    ann = make_customer(email="ann@example.com")
    bob = make_customer(email="bob@example.com")
    CustomerIdentity.objects.filter(customer=bob, kind=IdentityKind.EMAIL).delete()  # only the primary email
    owner_id = agents[0][1]
    for email in ("ANN@example.com", "bob@example.com", "lead@example.com"):
        sandbox.store.create("contacts", {"email": email, "lifecyclestage": "lead", "hubspot_owner_id": owner_id})

    # when: the beat's pull runs
    report = pull(connection, adapter)

    # then: both customers have the CRM's owner and stage on record, the lead is skipped, and every
    # type's cursor stands after what it read
    assert report.records == {"contacts": 3} and report.matched == 2 and not report.error
    assert (crm_state(ann).owner_id, crm_state(ann).stage) == (owner_id, "lead")
    assert crm_state(bob).contact_id == sandbox.contact("bob@example.com")["hs_object_id"]
    contacts = cursor(connection, "contacts")
    assert contacts.records == 3 and contacts.last_id == sandbox.contact("lead@example.com")["hs_object_id"]
    assert {c.object_type for c in CrmCursor.objects.filter(connection=connection)} == {"contacts", "deals",
                                                                                         "activities"}

    # when: nothing changed and it runs again, then it reads nothing
    assert pull(connection, adapter).records == {}


def test_contacts_sharing_one_stamp_are_all_processed_exactly_once(connection, sandbox, clock, agents):
    # given: 45 customers whose contacts a CRM import stamped with one lastmodifieddate, read in
    # pages of 10 (every page ends inside the tie)
    from integrations.crm.hubspot import HubSpotAdapter

    small_pages = HubSpotAdapter("pat-inbound-test", base_url=sandbox.url, clock=clock, sleep=clock.sleep,
                                 index_lag_seconds=0, page_size=10)
    start = len(sandbox.store.objects["contacts"])
    customers = [make_customer(email=f"tie{start + i}@example.com") for i in range(45)]
    sandbox.store.bulk_contacts(45, prefix="tie", props={"hubspot_owner_id": agents[1][1]})

    # when: it is pulled
    report = pull(connection, small_pages)

    # then: each contact was read and applied once, and the cursor stands on the tie's last id
    assert report.records == {"contacts": 45} and report.matched == 45
    assert CrmContactState.objects.filter(customer__in=customers).count() == 45
    assert cursor(connection, "contacts").records == 45
    assert pull(connection, small_pages).records == {}


def test_a_pull_that_crashed_resumes_after_its_last_committed_page(connection, sandbox, clock, monkeypatch):
    # given: 30 customers' contacts at ten different stamps, read in pages of 4
    from integrations.crm.hubspot import HubSpotAdapter

    adapter = HubSpotAdapter("pat-inbound-test", base_url=sandbox.url, clock=clock, sleep=clock.sleep,
                             index_lag_seconds=0, page_size=4)
    for i in range(30):
        make_customer(email=f"c{i}@example.com")
        sandbox.store.create("contacts", {"email": f"c{i}@example.com", "lifecyclestage": "customer"})
        if i % 3 == 2:
            sandbox.clock.advance(1)
    real_apply, calls = inbound.contacts_apply, []

    def crash_on_the_third_page(**kwargs):
        calls.append(len(kwargs["facts"]))
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real_apply(**kwargs)

    monkeypatch.setattr(inbound, "contacts_apply", crash_on_the_third_page)

    # when: the pull dies applying its third page
    with pytest.raises(RuntimeError):
        pull(connection, adapter)

    # then: the first two pages are committed with their cursor, the third left no trace
    done = cursor(connection, "contacts")
    assert done.records == sum(calls[:2]) and CrmContactState.objects.count() == sum(calls[:2])
    assert done.pulling_by == ""  # the lease was given back

    # when: the next run resumes
    monkeypatch.setattr(inbound, "contacts_apply", real_apply)
    report = pull(connection, adapter)

    # then: it read only what was left, and every contact was applied exactly once in all
    assert report.records["contacts"] == 30 - sum(calls[:2])
    assert cursor(connection, "contacts").records == 30 and CrmContactState.objects.count() == 30


def test_a_type_another_run_is_pulling_is_left_to_it(connection, adapter, sandbox):
    # given: another worker holds the contacts' lease
    from django.utils import timezone

    CrmCursor.objects.create(connection=connection, object_type="contacts", pulling_by="other",
                             pulling_until=timezone.now() + timezone.timedelta(minutes=5))
    make_customer(email="ann@example.com")
    sandbox.store.create("contacts", {"email": "ann@example.com"})

    # when: this run pulls, then it leaves the contacts alone, and the activities that need their
    # customers, and still pulls the deals
    report = pull(connection, adapter)
    assert report.busy == ["contacts", "activities"] and "contacts" not in report.records
    assert CrmContactState.objects.count() == 0 and cursor(connection, "deals").last_run_at is not None


def test_a_crm_down_for_long_is_one_sync_failure_resolved_by_the_next_pull(connection, adapter, sandbox):
    # given: HubSpot answers 503 to everything
    from datetime import timedelta

    from django.utils import timezone

    from lifecycle.models import ExceptionCase

    make_customer(email="ann@example.com")
    sandbox.store.create("contacts", {"email": "ann@example.com"})
    sandbox.outage(600, mode="503")

    # when: a pull fails, then the cursor stays and says why; a short outage is nobody's problem yet
    report = pull(connection, adapter)
    assert report.error and "contacts" not in report.records
    assert cursor(connection, "contacts").modified_at is None and cursor(connection, "contacts").last_error
    assert not ExceptionCase.objects.filter(kind="sync_failure").exists()

    # when: it has failed for longer than a quarter of an hour, then one sync_failure says so
    CrmCursor.objects.filter(connection=connection).update(last_success_at=timezone.now() - timedelta(minutes=20))
    pull(connection, adapter)
    failure = ExceptionCase.objects.get(kind="sync_failure", subject_key=f"crm:{connection.pk}/pulls")
    assert failure.status == "open" and "has not heard from the CRM" in failure.summary

    # when: HubSpot is back, then the next pull catches up and resolves it
    sandbox.end_outage()
    assert pull(connection, adapter).records == {"contacts": 1}
    failure.refresh_from_db()
    assert failure.status == "resolved"


def test_the_beat_task_pulls_every_active_connection(connection, adapter, sandbox, agents, monkeypatch):
    # given: a customer and its contact in the CRM (the worker's adapter is the test's: the sandbox's
    # rate limits run on the test's manual clock, which the worker's real-time pacer would not move)
    from integrations.crm import pulls

    monkeypatch.setattr(pulls, "adapter_for", lambda c: adapter)
    ann = make_customer(email="ann@example.com")
    sandbox.store.create("contacts", {"email": "ann@example.com", "hubspot_owner_id": agents[2][1]})

    # when: the beat runs the task
    outcome = pull_crm_changes()

    # then: the connection was pulled
    assert outcome == {connection.pk: {"contacts": 1}}
    assert crm_state(ann).owner_id == agents[2][1]


def test_a_pull_stops_at_the_daily_cap_after_the_page_it_saved(connection, adapter, sandbox):
    # given: an account with one request left today, and a customer whose contact changed
    from integrations.crm.models import CrmConnection

    make_customer(email="ann@example.com")
    sandbox.store.create("contacts", {"email": "ann@example.com", "lifecyclestage": "lead"})
    CrmConnection.objects.filter(pk=connection.pk).update(daily_cap=1)

    # when: the pull runs
    report = pull(connection, adapter)

    # then: the contacts' page is applied and saved, and the pull goes no further today, saying why
    assert report.records == {"contacts": 1} and "requests HubSpot allows a day are used" in report.error
    assert cursor(connection, "contacts").records == 1
    assert not CrmCursor.objects.filter(connection=connection, object_type="deals").exists()
