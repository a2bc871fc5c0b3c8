"""The sandbox HubSpot account answers like HubSpot where the adapter depends on it: auth, scopes,
contacts, owners, lifecycle stages, deals and associations.

Plain pytest, no database: each test serves an account on 127.0.0.1 with an ephemeral port and talks
to it over urllib (what any HTTP client would see).
"""

import json
import urllib.error
import urllib.request

import pytest

from integrations.crm.sandbox import SandboxCrm

TOKEN = "pat-test"


def call(crm, method, path, body=None, token=TOKEN, headers=None):
    """(status, parsed JSON or text, headers) of one request to the sandbox."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(crm.url + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    try:
        return status, json.loads(raw), got
    except ValueError:
        return status, raw.decode(), got


def upsert(crm, *items, token=TOKEN):
    inputs = [{"id": email, "idProperty": "email", "properties": props} for email, props in items]
    return call(crm, "POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs}, token=token)


@pytest.fixture
def crm():
    with SandboxCrm.running(token=TOKEN, owners=3, now="2025-06-01T12:00:00Z") as account:
        yield account


# -- auth and scopes ----------------------------------------------------------------------------
def test_token_info_lists_the_scopes_granted_to_a_private_app_token(crm):
    crm.add_token("pat-narrow", ["crm.objects.contacts.read"])
    status, body, _ = call(crm, "POST", "/oauth/v2/private-apps/get/access-token-info", {"tokenKey": "pat-narrow"},
                           token=None)
    assert status == 200
    assert body["scopes"] == ["crm.objects.contacts.read"] and {"userId", "hubId", "appId"} <= set(body)
    status, body, _ = call(crm, "POST", "/oauth/v2/private-apps/get/access-token-info", {"tokenKey": "nope"},
                           token=None)
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"


def test_a_bad_or_missing_token_is_a_401_with_hubspots_body(crm):
    for token in ("pat-wrong", None):
        status, body, _ = call(crm, "GET", "/crm/v3/owners", token=token)
        assert status == 401
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found") and body["correlationId"]


def test_a_token_without_the_needed_scope_is_a_403_naming_it(crm):
    crm.add_token("pat-read", ["crm.objects.contacts.read"])
    status, body, _ = upsert(crm, ("ann@example.com", {}), token="pat-read")
    assert status == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert call(crm, "POST", "/crm/v3/objects/contacts/search", {}, token="pat-read")[0] == 200


# -- contacts -------------------------------------------------------------------------------------
def test_batch_upsert_by_email_creates_then_updates_the_same_contact(crm):
    status, body, _ = upsert(crm, ("Ann@Example.com", {"firstname": "Ann"}))
    assert status == 200 and body["status"] == "COMPLETE" and body["results"][0]["new"] is True
    contact_id = body["results"][0]["id"]
    status, body, _ = upsert(crm, ("ann@example.com", {"lastname": "Lee"}))
    assert body["results"][0]["new"] is False and body["results"][0]["id"] == contact_id
    contact = crm.contact("ann@example.com")
    assert (contact["firstname"], contact["lastname"], contact["email"]) == ("Ann", "Lee", "ann@example.com")


def test_batch_upsert_refuses_more_than_100_inputs_and_duplicate_ids(crm):
    status, body, _ = upsert(crm, *[(f"c{i}@example.com", {}) for i in range(101)])
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    status, body, _ = upsert(crm, ("a@example.com", {}), ("a@example.com", {}))
    assert status == 400 and "Duplicate IDs" in body["message"]
    assert crm.contact("a@example.com") is None  # nothing of a refused batch is applied


def test_one_bad_value_fails_the_whole_batch_naming_the_property(crm):
    owner = crm.store.owners[0]
    status, body, _ = upsert(crm, ("ok@example.com", {"hubspot_owner_id": owner["id"]}),
                             ("bad@example.com", {"hubspot_owner_id": str(owner["userId"])}))
    assert status == 400 and "INVALID_OWNER_ID" in body["message"]  # the owner's userId is not its id
    assert crm.contact("ok@example.com") is None
    status, body, _ = upsert(crm, ("ok@example.com", {"lifecyclestage": "vip"}))
    assert status == 400 and body["errors"][0]["code"] == "INVALID_OPTION"


def test_batch_update_keyed_by_email_is_refused_but_by_id_works(crm):
    contact_id = upsert(crm, ("ann@example.com", {}))[1]["results"][0]["id"]
    status, body, _ = call(crm, "POST", "/crm/v3/objects/contacts/batch/update", {
        "inputs": [{"id": "ann@example.com", "idProperty": "email", "properties": {"firstname": "A"}}]})
    assert status == 400 and body["message"] == "Unable to perform update/upsert by non-unique 0-1 property"
    status, body, _ = call(crm, "POST", "/crm/v3/objects/contacts/batch/update", {
        "inputs": [{"id": contact_id, "properties": {"firstname": "A"}}]})
    assert status == 200 and crm.contact("ann@example.com")["firstname"] == "A"


def test_batch_read_by_email_answers_207_for_the_missing_ones(crm):
    upsert(crm, ("ann@example.com", {"firstname": "Ann"}))
    status, body, _ = call(crm, "POST", "/crm/v3/objects/contacts/batch/read", {
        "idProperty": "email", "properties": ["firstname"], "inputs": [{"id": "ann@example.com"}, {"id": "x@y.com"}]})
    assert status == 207
    assert body["results"][0]["properties"]["firstname"] == "Ann"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["errors"][0]["context"]["ids"] == ["x@y.com"]


# -- owners and lifecycle stages -----------------------------------------------------------------
def test_owners_are_paged_with_after_and_carry_id_and_user_id(crm):
    crm.store.add_owner("gone@aftercare.example", "Gone", "Away", archived=True)
    seen, after = [], None
    while True:
        status, body, _ = call(crm, "GET", "/crm/v3/owners?limit=2" + (f"&after={after}" if after else ""))
        assert status == 200
        seen += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert len(seen) == 3 and all({"id", "userId", "email", "firstName", "lastName", "archived"} <= set(o) for o in seen)
    assert all(o["id"] != str(o["userId"]) for o in seen)
    archived = call(crm, "GET", "/crm/v3/owners?archived=true")[1]["results"]
    assert [o["email"] for o in archived] == ["gone@aftercare.example"]


def test_lifecyclestage_lists_the_eight_default_stages_and_a_custom_numeric_one(crm):
    status, body, _ = call(crm, "GET", "/crm/v3/properties/contacts/lifecyclestage")
    assert status == 200 and body["name"] == "lifecyclestage" and body["type"] == "enumeration"
    assert [o["value"] for o in body["options"]] == [
        "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
        "evangelist", "other"]
    assert [o["displayOrder"] for o in body["options"]] == list(range(8))
    assert call(crm, "POST", "/_sandbox/lifecycle-stages", {"label": "Onboarding", "value": "1234567",
                                                          "display_order": 6})[0] == 201
    options = call(crm, "GET", "/crm/v3/properties/contacts/lifecyclestage")[1]["options"]
    assert [(o["value"], o["displayOrder"]) for o in options][5:8] == [("customer", 5), ("1234567", 6), ("evangelist", 7)]
    assert upsert(crm, ("n@example.com", {"lifecyclestage": "1234567"}))[0] == 200


def test_a_backward_stage_is_ignored_unless_cleared_first(crm):
    upsert(crm, ("ann@example.com", {"lifecyclestage": "customer"}))
    status, body, _ = upsert(crm, ("ann@example.com", {"lifecyclestage": "lead"}))
    assert status == 200 and body["results"][0]["properties"]["lifecyclestage"] == "customer"  # silently kept
    upsert(crm, ("ann@example.com", {"lifecyclestage": ""}))
    assert "lifecyclestage" not in crm.contact("ann@example.com")
    upsert(crm, ("ann@example.com", {"lifecyclestage": "lead"}))
    assert crm.contact("ann@example.com")["lifecyclestage"] == "lead"


def test_an_edit_by_hand_moves_the_stage_anywhere_and_bumps_lastmodifieddate(crm):
    upsert(crm, ("ann@example.com", {"lifecyclestage": "customer"}))
    before = crm.store.find("contacts", "ann@example.com", "email").updated
    crm.clock.advance(5)
    owner = crm.store.owners[1]["id"]
    status, body, _ = call(crm, "POST", "/_sandbox/contacts/ann@example.com/edit",
                           {"properties": {"lifecyclestage": "lead", "hubspot_owner_id": owner}})
    assert status == 200 and body["properties"]["lifecyclestage"] == "lead"
    rec = crm.store.find("contacts", "ann@example.com", "email")
    assert rec.updated == before + 5000 and rec.props["hubspot_owner_id"] == owner


# -- deals and associations ----------------------------------------------------------------------
def test_deals_upsert_by_a_unique_property_and_associate_to_a_contact(crm):
    contact_id = upsert(crm, ("ann@example.com", {}))[1]["results"][0]["id"]
    deal = {"id": "order-1", "idProperty": "aftercare_order_key",
            "properties": {"dealname": "Order #1", "dealstage": "appointmentscheduled", "pipeline": "default"}}
    status, body, _ = call(crm, "POST", "/crm/v3/objects/deals/batch/upsert", {"inputs": [deal]})
    assert status == 200 and body["results"][0]["new"] is True
    deal_id = body["results"][0]["id"]
    again = call(crm, "POST", "/crm/v3/objects/deals/batch/upsert", {"inputs": [deal]})[1]
    assert again["results"][0]["id"] == deal_id and again["results"][0]["new"] is False
    status, body, _ = call(crm, "PUT", f"/crm/v4/objects/deal/{deal_id}/associations/default/contact/{contact_id}")
    assert status == 200 and body["results"][0]["associationSpec"]["associationTypeId"] == 3
    status, body, _ = call(crm, "POST", "/crm/v4/associations/deal/contact/batch/read", {"inputs": [{"id": deal_id}]})
    assert status == 200 and body["results"][0]["to"][0]["toObjectId"] == int(contact_id)
    assert crm.deal("order-1")["contacts"] == [contact_id]


def test_the_default_deal_pipeline_has_hubspots_stages(crm):
    status, body, _ = call(crm, "GET", "/crm/v3/pipelines/deals")
    pipeline = body["results"][0]
    assert status == 200 and pipeline["id"] == "default"
    assert [s["id"] for s in pipeline["stages"]][-2:] == ["closedwon", "closedlost"]
    assert pipeline["stages"][-1]["metadata"]["isClosed"] == "true"


def test_state_and_counters_are_readable_over_http(crm):
    upsert(crm, ("ann@example.com", {"firstname": "Ann"}))
    state = call(crm, "GET", "/_sandbox/state?type=contacts", token=None)[1]
    assert state["contacts"][0]["properties"]["firstname"] == "Ann"
    counters = call(crm, "GET", "/_sandbox/counters", token=None)[1]
    assert counters["requests"] == 1 and counters["rate_limited_total"] == 0


def test_batch_create_is_not_idempotent_and_a_known_email_is_a_409(crm):
    deal = {"inputs": [{"properties": {"dealname": "Order #9"}}]}
    assert call(crm, "POST", "/crm/v3/objects/deals/batch/create", deal)[0] == 201
    assert call(crm, "POST", "/crm/v3/objects/deals/batch/create", deal)[0] == 201
    assert len(crm.store.objects["deals"]) == 2  # sent twice, made twice: never retried blindly
    upsert(crm, ("ann@example.com", {}))
    status, body, _ = call(crm, "POST", "/crm/v3/objects/contacts/batch/create",
                           {"inputs": [{"properties": {"email": "ann@example.com"}}]})
    assert status == 409 and body["category"] == "CONFLICT" and "Existing ID" in body["message"]


def test_a_deal_edited_by_hand_changes_stage_and_stamp(crm):
    deal = {"id": "order-1", "idProperty": "aftercare_order_key", "properties": {"dealstage": "closedwon"}}
    deal_id = call(crm, "POST", "/crm/v3/objects/deals/batch/upsert", {"inputs": [deal]})[1]["results"][0]["id"]
    crm.clock.advance(3)
    status, body, _ = call(crm, "POST", f"/_sandbox/deals/{deal_id}/edit", {"properties": {"dealstage": "closedlost"}})
    assert status == 200 and crm.deal("order-1")["dealstage"] == "closedlost"
    assert body["updatedAt"] == "2025-06-01T12:00:03.000Z"


def test_owners_can_be_given_by_email_with_their_names():
    with SandboxCrm.running(token=TOKEN, owners=0, owner_emails=["agent@aftercare.example:Alex Meyer",
                                                                  "ann.lee@aftercare.example"]) as crm:
        owners = [(o["email"], o["firstName"], o["lastName"]) for o in crm.store.owners]
    assert owners == [("agent@aftercare.example", "Alex", "Meyer"), ("ann.lee@aftercare.example", "Ann", "Lee")]
