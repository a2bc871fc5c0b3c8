"""Incremental pulls through the HubSpot adapter and the sandbox's search: every changed record
exactly once in (modified_at, id) order, across the 10,000-results cap and through bulk imports that
share one lastmodifieddate; resumable from any cursor; activities of all types in one order."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.crm.base import ContactChange, DealChange
from integrations.crm.hubspot import HubSpotAdapter
from integrations.crm.sandbox import ManualClock, SandboxCrm

TOKEN = "pat-test"
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SINCE = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock()


def served(clock, **options):
    return SandboxCrm.running(token=TOKEN, owners=2, monotonic=clock, now=T0, **options)


def adapter_for(crm, clock, **options):
    options.setdefault("index_lag_seconds", 0)
    return HubSpotAdapter(TOKEN, base_url=crm.url, clock=clock, sleep=clock.sleep, **options)


def pulled(adapter, kind="contacts", since=SINCE, after_id=None, **options):
    return [c for batch in adapter.changed(kind, since, after_id, **options) for c in batch]


def in_cursor_order(items):
    return [(c.modified_at, int(c.id)) for c in items] == sorted((c.modified_at, int(c.id)) for c in items)


def searches_refused(crm):
    return [r for r in crm.requests_to("/search") if r["status"] != 200]


def test_10500_contacts_sharing_one_stamp_come_exactly_once_past_the_10000_cap(clock):
    with served(clock) as crm:
        crm.store.bulk_contacts(10_500)
        got = pulled(adapter_for(crm, clock), properties=["email"])
        assert len(got) == 10_500 and len({c.id for c in got}) == 10_500
        assert {c.modified_at for c in got} == {T0} and in_cursor_order(got)
        assert searches_refused(crm) == [] and crm.search_cap == 10_000
        assert all(r["body"].get("after") in (None, "0") for r in crm.requests_to("/search"))  # never an offset
        assert got[0].properties["email"].endswith("@example.com")


def test_mixed_stamps_and_big_ties_under_a_small_cap(clock):
    with served(clock, search_cap=300) as crm:
        for size in (20, 400, 1, 379, 200):  # groups larger than a page and than the cap
            crm.store.bulk_contacts(size, prefix=f"g{size}-")
            crm.clock.advance(1)
        adapter = adapter_for(crm, clock, page_size=50)
        got = pulled(adapter)
        assert len(got) == 1_000 and len({c.id for c in got}) == 1_000 and in_cursor_order(got)
        assert searches_refused(crm) == []


def test_a_pull_resumes_from_the_last_saved_cursor_without_gaps_or_repeats(clock):
    with served(clock) as crm:
        for size in (30, 250, 70):
            crm.store.bulk_contacts(size, prefix=f"s{size}-")
            crm.clock.advance(2)
        adapter = adapter_for(crm, clock, page_size=40)
        everything = pulled(adapter)
        batches = adapter.changed("contacts", SINCE)
        first = next(batches) + next(batches) + next(batches)
        cursor = first[-1]  # what a caller saves after each batch
        rest = pulled(adapter, since=cursor.modified_at, after_id=cursor.id)
        assert [c.id for c in first + rest] == [c.id for c in everything]


def test_a_contact_edited_during_a_pull_is_met_again_not_lost(clock):
    with served(clock) as crm:
        crm.store.bulk_contacts(120)
        crm.clock.advance(1)
        adapter = adapter_for(crm, clock, page_size=50)
        batches = adapter.changed("contacts", SINCE)
        seen = list(next(batches))  # the first 50 of the tie, by id
        crm.edit("contacts", seen[0].id, {"lifecyclestage": "lead"})  # already seen: moves later
        crm.edit("contacts", str(int(seen[-1].id) + 10), {"lifecyclestage": "lead"})  # not seen yet: moves later
        seen += [c for batch in batches for c in batch]
        assert {c.id for c in seen} == {str(r.id) for r in crm.store.objects["contacts"].values()}
        assert [c.id for c in seen].count(seen[0].id) == 2 and seen[-1].modified_at == T0 + timedelta(seconds=1)


def test_a_pull_stops_short_of_the_search_index_lag(clock):
    with served(clock) as crm:
        crm.store.bulk_contacts(3, prefix="old")
        crm.clock.advance(20)
        crm.store.bulk_contacts(2, prefix="new")
        adapter = adapter_for(crm, clock, index_lag_seconds=30, now=lambda: T0 + timedelta(seconds=40))
        assert len(pulled(adapter)) == 3  # the two from 10 s ago may not be indexed yet: next pull
        assert len(pulled(adapter, until=T0 + timedelta(seconds=40))) == 5


def test_deals_come_with_their_contacts(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock)
        adapter.upsert_contacts([ContactChange("ann@example.com", {})])
        adapter.upsert_deals([DealChange("order-1", {"dealname": "Order #1", "dealstage": "closedwon"},
                                         "ann@example.com"), DealChange("order-2", {"dealname": "Order #2"})])
        deals = pulled(adapter, "deals", properties=["dealstage", "aftercare_order_key"], associations=["contacts"])
        by_key = {d.properties["aftercare_order_key"]: d for d in deals}
        assert by_key["order-1"].properties["dealstage"] == "closedwon"
        assert by_key["order-1"].associations == {"contacts": (crm.contact("ann@example.com")["hs_object_id"],)}
        assert by_key["order-2"].associations == {"contacts": ()}


ACTIVITIES = [("notes", {"hs_note_body": "<p>Called back</p>"}), ("calls", {"hs_call_title": "Setup", "hs_call_body": "ok"}),
              ("emails", {"hs_email_subject": "Welcome", "hs_email_text": "Hi"}),
              ("meetings", {"hs_meeting_title": "Demo", "hs_meeting_body": "Agenda"}),
              ("tasks", {"hs_task_subject": "Follow up", "hs_task_body": "Call Friday"})]


def test_activities_of_every_type_come_in_one_order_with_their_contacts(clock):
    with served(clock) as crm:
        adapter = adapter_for(crm, clock)
        adapter.upsert_contacts([ContactChange("ann@example.com", {})])
        owner = crm.store.owners[0]["id"]
        for kind, props in reversed(ACTIVITIES):  # created in reverse: the stamp, not the id, orders them
            crm.add_activity(kind, ["ann@example.com"], {**props, "hubspot_owner_id": owner},
                             occurred_at="2025-05-30T10:00:00Z")
            crm.clock.advance(1)
        got = [a for batch in adapter.activities(SINCE) for a in batch]
        assert [a.type for a in got] == ["task", "meeting", "email", "call", "note"]
        contact = crm.contact("ann@example.com")["hs_object_id"]
        assert all(a.contact_ids == (contact,) and a.owner_id == owner for a in got)
        assert got[0].occurred_at == datetime(2025, 5, 30, 10, tzinfo=UTC)
        assert (got[1].subject, got[1].body) == ("Demo", "Agenda") and got[4].body == "<p>Called back</p>"


def test_activities_sharing_a_stamp_resume_from_a_cursor_that_names_the_type(clock):
    with served(clock) as crm:
        for kind, props in ACTIVITIES:
            for _ in range(3):
                crm.add_activity(kind, [], props)  # all fifteen at one stamp
        adapter = adapter_for(crm, clock, page_size=4)
        everything = [a for batch in adapter.activities(SINCE) for a in batch]
        assert [a.type for a in everything] == [t for t in ("note", "call", "email", "meeting", "task") for _ in range(3)]
        cursor = everything[7]  # the second email
        rest = [a for batch in adapter.activities(cursor.modified_at, cursor.cursor) for a in batch]
        assert [a.cursor for a in rest] == [a.cursor for a in everything[8:]]
        with pytest.raises(ValueError):
            next(adapter.activities(SINCE, "123"))
