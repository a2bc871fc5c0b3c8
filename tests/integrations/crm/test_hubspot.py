"""The HubSpot adapter, through hubspot-api-client, against the sandbox account: the token check,
owners, stages, pipelines, and contact and deal upserts (batching, backward stages, bad items).

The sandbox's rate-limit windows and the adapter's pacer share a ManualClock, so pacing costs no
real time and nothing here waits.
"""

import pytest

from integrations.crm.base import ContactChange, CrmError, DealChange
from integrations.crm.hubspot import REQUIRED_SCOPES, HubSpotAdapter
from integrations.crm.sandbox import ManualClock, SandboxCrm

TOKEN = "pat-test"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def crm(clock):
    with SandboxCrm.running(token=TOKEN, owners=3, monotonic=clock, now="2025-06-01T12:00:00Z") as account:
        yield account


def adapter_for(crm, clock, token=TOKEN, **options):
    return HubSpotAdapter(token, base_url=crm.url, clock=clock, sleep=clock.sleep, index_lag_seconds=0, **options)


@pytest.fixture
def adapter(crm, clock):
    return adapter_for(crm, clock)


def upserts(crm):
    return [r for r in crm.requests_to("/crm/v3/objects/contacts/batch/upsert") if r["status"] == 200]


# -- the token ------------------------------------------------------------------------------------
def test_check_returns_the_granted_scopes(adapter):
    assert REQUIRED_SCOPES <= adapter.check()


def test_a_bad_token_is_an_auth_error_a_person_understands(crm, clock):
    with pytest.raises(CrmError) as caught:
        adapter_for(crm, clock, token="pat-rotated").check()
    assert caught.value.kind == "auth" and caught.value.retryable is False
    assert caught.value.message.startswith("HubSpot refused the token: check it in the CRM connection")
    with pytest.raises(CrmError) as caught:
        adapter_for(crm, clock, token="pat-rotated").owners()
    assert caught.value.kind == "auth" and caught.value.status == 401


def test_missing_scopes_are_named_by_check(crm, clock):
    crm.add_token("pat-narrow", REQUIRED_SCOPES - {"crm.objects.deals.write", "sales-email-read"})
    with pytest.raises(CrmError) as caught:
        adapter_for(crm, clock, token="pat-narrow").check()
    error = caught.value
    assert error.kind == "scope" and error.missing_scopes == ("crm.objects.deals.write", "sales-email-read")
    assert "crm.objects.deals.write, sales-email-read" in error.message and "private app" in error.message


def test_a_403_from_an_endpoint_is_a_scope_error_naming_the_scope(crm, clock):
    crm.add_token("pat-read", ["crm.objects.contacts.read"])
    with pytest.raises(CrmError) as caught:
        adapter_for(crm, clock, token="pat-read").upsert_contacts([ContactChange("ann@example.com", {})])
    assert caught.value.kind == "scope" and caught.value.missing_scopes == ("crm.objects.contacts.write",)
    assert "crm.objects.contacts.write" in caught.value.message


# -- the account ----------------------------------------------------------------------------------
def test_owners_come_from_every_page_with_their_owner_id(crm, adapter):
    for i in range(230):
        crm.store.add_owner(f"agent{i}@aftercare.example", "Agent", str(i))
    crm.store.add_owner("left@aftercare.example", "Left", "Us", archived=True)
    owners = adapter.owners()
    assert len(owners) == 234 and len({o.id for o in owners}) == 234
    assert [o.email for o in owners if o.archived] == ["left@aftercare.example"]
    user_ids = {str(o["userId"]) for o in crm.store.owners}
    assert not {o.id for o in owners} & user_ids  # hubspot_owner_id takes the id, never the userId
    assert len(crm.requests_to("/crm/v3/owners")) == 4  # 100 + 100 + 34, then the archived page


def test_lifecycle_stages_follow_the_account_including_custom_numeric_ones(crm, adapter):
    crm.store.add_lifecycle_stage("Onboarding", "1234567", display_order=6)
    stages = adapter.lifecycle_stages()
    assert [s.value for s in stages] == ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                                         "opportunity", "customer", "1234567", "evangelist", "other"]
    assert [s.order for s in stages] == list(range(9)) and stages[6].label == "Onboarding"


def test_deal_pipelines_list_stages_in_order_with_closed_ones_marked(adapter):
    (pipeline,) = adapter.deal_pipelines()
    assert pipeline.id == "default" and pipeline.stages[0].value == "appointmentscheduled"
    assert [s.value for s in pipeline.stages if s.closed] == ["closedwon", "closedlost"]


# -- contacts -------------------------------------------------------------------------------------
def test_250_changes_go_out_as_three_batches_of_at_most_100(crm, adapter):
    owner = crm.store.owners[0]["id"]
    result = adapter.upsert_contacts([ContactChange(f"c{i}@example.com", {"hubspot_owner_id": owner,
                                                                          "lifecyclestage": "customer"})
                                      for i in range(250)])
    assert len(result.ok) == 250 and result.errors == []
    assert [len(r["body"]["inputs"]) for r in upserts(crm)] == [100, 100, 50]
    assert all(i["idProperty"] == "email" for r in upserts(crm) for i in r["body"]["inputs"])
    assert crm.contact("c249@example.com")["hubspot_owner_id"] == owner
    assert {r.email for r in result.ok} == {f"c{i}@example.com" for i in range(250)}


def test_changes_to_one_email_in_a_call_are_one_input_the_later_winning(crm, adapter):
    result = adapter.upsert_contacts([ContactChange("Ann@Example.com", {"firstname": "Ann", "lifecyclestage": "lead"}),
                                      ContactChange("ann@example.com", {"lifecyclestage": "customer"})])
    assert len(result.ok) == 1 and [len(r["body"]["inputs"]) for r in upserts(crm)] == [1]
    assert crm.contact("ann@example.com")["lifecyclestage"] == "customer"
    assert crm.contact("ann@example.com")["firstname"] == "Ann"


def test_a_backward_stage_is_cleared_then_set_in_two_ordered_requests(crm, adapter):
    adapter.upsert_contacts([ContactChange("ann@example.com", {"lifecyclestage": "customer"}),
                             ContactChange("bob@example.com", {"lifecyclestage": "customer"})])
    before = len(upserts(crm))
    result = adapter.upsert_contacts([ContactChange("ann@example.com", {"lifecyclestage": "lead"}, stage_backward=True),
                                      ContactChange("bob@example.com", {"firstname": "Bob"})])
    clear, setting = upserts(crm)[before:]
    assert clear["n"] < setting["n"]
    assert clear["body"]["inputs"] == [{"id": "ann@example.com", "idProperty": "email",
                                        "properties": {"lifecyclestage": "", "email": "ann@example.com"}}]
    assert {i["id"]: i["properties"].get("lifecyclestage") for i in setting["body"]["inputs"]} == {
        "ann@example.com": "lead", "bob@example.com": None}
    assert crm.contact("ann@example.com")["lifecyclestage"] == "lead"
    assert crm.contact("bob@example.com")["lifecyclestage"] == "customer"
    assert not any(r.stage_ignored for r in result.ok)


def test_a_backward_stage_sent_without_the_flag_is_reported_as_ignored(crm, adapter):
    adapter.upsert_contacts([ContactChange("ann@example.com", {"lifecyclestage": "customer"})])
    (result,) = adapter.upsert_contacts([ContactChange("ann@example.com", {"lifecyclestage": "lead"})]).ok
    assert result.stage_ignored and result.properties["lifecyclestage"] == "customer"


def test_one_bad_item_does_not_sink_the_others(crm, adapter):
    owner = crm.store.owners[0]
    changes = [ContactChange(f"c{i}@example.com", {"hubspot_owner_id": owner["id"]}) for i in range(99)]
    changes.insert(40, ContactChange("bad@example.com", {"hubspot_owner_id": str(owner["userId"])}))
    result = adapter.upsert_contacts(changes)
    assert len(result.ok) == 99 and crm.contact("c98@example.com")["hubspot_owner_id"] == owner["id"]
    (error,) = result.errors
    assert error.key == "bad@example.com" and f"{owner['userId']} is not a valid owner id" in error.message
    assert "[{" not in error.message  # HubSpot's JSON list turned into its sentences


# -- deals ----------------------------------------------------------------------------------------
def test_deals_are_upserted_by_order_key_and_linked_to_their_contact(crm, adapter):
    adapter.upsert_contacts([ContactChange("ann@example.com", {})])
    changes = [DealChange("order-1", {"dealname": "Order #1", "dealstage": "appointmentscheduled"}, "Ann@example.com"),
               DealChange("order-2", {"dealname": "Order #2"}, "nobody@example.com")]
    first = adapter.upsert_deals(changes)
    (done,) = first.ok
    assert done.key == "order-1" and done.contact_id == crm.contact("ann@example.com")["hs_object_id"]
    assert crm.deal("order-1")["contacts"] == [done.contact_id]
    (error,) = first.errors
    assert error.key == "order-2" and "nobody@example.com" in error.message
    adapter.upsert_contacts([ContactChange("nobody@example.com", {})])
    second = adapter.upsert_deals(changes)  # sending again is harmless and links the late one
    assert {d.key: d.id for d in second.ok}["order-1"] == done.id and second.errors == []
    assert len(crm.store.objects["deals"]) == 2 and crm.deal("order-2")["contacts"]


# -- the console's deal property ------------------------------------------------------------------
def test_the_order_key_property_is_created_once_when_missing_and_left_alone_when_there(crm, adapter):
    assert adapter.deal_key_ensure() is False  # the sandbox account starts with it
    crm.store.remove_property("deals", "aftercare_order_key")
    assert adapter.deal_key_ensure() is True
    assert adapter.deal_key_ensure() is False
    [definition] = [r for r in crm.requests_to("/crm/v3/properties/deals", method="POST")]
    assert definition["status"] == 201
    assert adapter._call_json(adapter._properties.get_by_name, "deals", "aftercare_order_key")["hasUniqueValue"]


def test_an_order_key_property_without_unique_values_is_refused_with_what_to_do(crm, adapter):
    crm.store.remove_property("deals", "aftercare_order_key")
    crm.store.define_property("deals", "aftercare_order_key", "string", unique=False)
    with pytest.raises(CrmError) as caught:
        adapter.deal_key_ensure()
    assert caught.value.kind == "bad_request" and "Require unique values" in caught.value.message
