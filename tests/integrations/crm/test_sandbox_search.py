"""The sandbox's search endpoints: filters on the modification stamps and ids, one sort, paging,
the results cap, activities with their contacts, and bulk contacts sharing one stamp."""

import pytest

from integrations.crm.sandbox import SandboxCrm
from tests.integrations.crm.test_sandbox import TOKEN, call, upsert

NOW = "2025-06-01T12:00:00Z"
NOW_MS = 1748779200000


@pytest.fixture
def crm():
    with SandboxCrm.running(token=TOKEN, owners=2, now=NOW, search_per_second=0) as account:
        yield account


def search(crm, kind, filters=(), groups=None, **body):
    body.setdefault("limit", 200)
    body["filterGroups"] = groups if groups is not None else ([{"filters": list(filters)}] if filters else [])
    return call(crm, "POST", f"/crm/v3/objects/{kind}/search", body)


def stamped(crm, n, step=1):
    """n contacts, each `step` seconds after the previous one."""
    for i in range(n):
        upsert(crm, (f"c{i}@example.com", {"firstname": f"C{i}"}))
        crm.clock.advance(step)


def test_filters_on_lastmodifieddate_and_hs_object_id(crm):
    stamped(crm, 5)
    f = {"propertyName": "lastmodifieddate"}
    status, body, _ = search(crm, "contacts", [{**f, "operator": "GTE", "value": str(NOW_MS + 1000)},
                                               {**f, "operator": "LTE", "value": "2025-06-01T12:00:03Z"}])
    assert status == 200 and [r["properties"]["email"] for r in body["results"]] == ["c1@example.com", "c2@example.com",
                                                                                     "c3@example.com"]
    assert body["total"] == 3 and "paging" not in body
    assert search(crm, "contacts", [{**f, "operator": "EQ", "value": str(NOW_MS + 2000)}])[1]["total"] == 1
    third = body["results"][1]["id"]
    above = search(crm, "contacts", [{"propertyName": "hs_object_id", "operator": "GT", "value": third}])[1]
    assert sorted(int(r["id"]) for r in above["results"]) == [int(third) + 1, int(third) + 2]


def test_filter_groups_are_ored(crm):
    stamped(crm, 4)
    groups = [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": str(NOW_MS + 2000)}]},
              {"filters": [{"propertyName": "email", "operator": "EQ", "value": "c0@example.com"}]}]
    emails = {r["properties"]["email"] for r in search(crm, "contacts", groups=groups)[1]["results"]}
    assert emails == {"c0@example.com", "c3@example.com"}


def test_sorted_results_page_with_after_and_limit_is_at_most_200(crm):
    stamped(crm, 7)
    sorts = [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]
    first = search(crm, "contacts", sorts=sorts, limit=3)[1]
    assert [r["properties"]["firstname"] for r in first["results"]] == ["C6", "C5", "C4"]
    assert first["paging"]["next"]["after"] == "3" and first["total"] == 7
    second = search(crm, "contacts", sorts=sorts, limit=3, after="3")[1]
    assert [r["properties"]["firstname"] for r in second["results"]] == ["C3", "C2", "C1"]
    status, body, _ = search(crm, "contacts", limit=201)
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


def test_paging_stops_at_the_cap_with_a_400(crm):
    crm.search_cap = 10
    crm.store.bulk_contacts(25)
    body = search(crm, "contacts", limit=6, after="6")[1]
    assert len(body["results"]) == 4 and body["paging"]["next"]["after"] == "12"  # cut at the cap, still a "next"
    status, body, _ = search(crm, "contacts", limit=6, after="12")
    assert status == 400 and "limited to 10" in body["message"]


def test_too_many_filters_are_refused(crm):
    filters = [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 11
    assert search(crm, "contacts", filters)[0] == 400
    assert search(crm, "contacts", groups=[{"filters": filters[:2]}] * 6)[0] == 400


def test_bulk_contacts_share_one_stamp_and_ties_are_not_in_id_order(crm):
    created = call(crm, "POST", "/_sandbox/contacts/bulk", {"count": 300, "modified_at": NOW}, token=None)[1]
    assert created["created"] == 300
    sorts = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    pages = [search(crm, "contacts", sorts=sorts, after=str(a))[1]["results"] for a in (0, 200)]
    ids = [int(r["id"]) for page in pages for r in page]
    assert {r["properties"]["lastmodifieddate"] for page in pages for r in page} == {"2025-06-01T12:00:00.000Z"}
    assert len(set(ids)) == 300 and ids != sorted(ids)  # every one once; ties in no id order
    again = [int(r["id"]) for r in search(crm, "contacts", sorts=sorts)[1]["results"]]
    assert again == ids[:200]  # the order is stable from one query to the next


def test_activities_are_searchable_and_name_their_contacts(crm):
    contact_id = upsert(crm, ("ann@example.com", {}))[1]["results"][0]["id"]
    for kind, props in [("notes", {"hs_note_body": "Called back"}), ("calls", {"hs_call_title": "Setup"}),
                        ("emails", {"hs_email_subject": "Welcome"}), ("meetings", {"hs_meeting_title": "Demo"}),
                        ("tasks", {"hs_task_subject": "Follow up"})]:
        status, note, _ = call(crm, "POST", "/_sandbox/activities", {
            "type": kind, "contacts": ["ann@example.com"], "properties": props,
            "occurred_at": "2025-05-31T09:00:00Z"}, token=None)
        assert status == 201
        found = search(crm, kind, [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(NOW_MS)}],
                       properties=["hs_timestamp", *props])[1]["results"]
        assert found[0]["properties"] == {"hs_timestamp": "2025-05-31T09:00:00.000Z", **props}
        linked = call(crm, "POST", f"/crm/v4/associations/{kind}/contacts/batch/read",
                      {"inputs": [{"id": found[0]["id"]}]})[1]
        assert linked["results"][0]["to"][0]["toObjectId"] == int(contact_id)


def test_association_read_of_an_object_without_any_is_a_207(crm):
    call(crm, "POST", "/_sandbox/activities", {"type": "notes", "properties": {"hs_note_body": "x"}}, token=None)
    note = search(crm, "notes")[1]["results"][0]["id"]
    status, body, _ = call(crm, "POST", "/crm/v4/associations/notes/contacts/batch/read", {"inputs": [{"id": note}]})
    assert status == 207 and body["results"] == [] and body["errors"][0]["context"]["fromObjectId"] == [note]
