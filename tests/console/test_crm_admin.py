"""The CRM in the admin: the connection (token never shown, "Check connection"), stage mappings with
history, agents without a HubSpot owner, and the outbox (pending, delivered, dead letters, replay)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.crm import connections
from integrations.crm.base import CrmError
from integrations.crm.models import CrmConnection, CrmOwnerLink, CrmStageMapping, OutboundMessage
from lifecycle.actors import Actor
from tests.factories import make_agent, make_customer, make_owned_customer, make_user
from tests.integrations.crm.outbox_support import TOKEN, connection, crm  # noqa: F401

pytestmark = pytest.mark.django_db
M = OutboundMessage.State
DIALOG = {"_form_submitted": "True"}  # unfold's confirmation dialog form


def url(model, view, *args):
    return reverse(f"admin:crm_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def ops(client, operations):
    client.force_login(operations)
    return client


@pytest.fixture
def adapter(monkeypatch, crm):
    monkeypatch.setattr(connections, "adapter_for", lambda connection: crm)
    return crm


def test_the_token_is_never_shown_only_its_mask(ops, connection, manager, client):
    page = ops.get(url(CrmConnection, "change", connection.pk)).content.decode()
    assert TOKEN not in page and "pat…4d21" in page
    client.force_login(manager)  # read only: the mask, no field
    page = client.get(url(CrmConnection, "change", connection.pk)).content.decode()
    assert TOKEN not in page and "pat…4d21" in page


def test_operations_add_a_connection_which_is_checked_at_once(ops, adapter):
    response = ops.post(url(CrmConnection, "add"), {
        "name": "HubSpot EU", "base_url": "http://127.0.0.1:8765", "token": TOKEN, "requests_per_10s": 190,
        "daily_cap": 625000, "conflict_policy": "console_is_truth", "is_active": "on"}, follow=True)
    connection = CrmConnection.objects.get(name="HubSpot EU")
    assert connection.token == TOKEN and connection.requests_per_10s == 190 and connection.daily_cap == 625000
    assert connection.check_ok and "HubSpot accepts the token" in response.content.decode()
    assert CrmStageMapping.objects.filter(connection=connection).count() == 7


def test_leaving_the_token_empty_keeps_it(ops, connection):
    ops.post(url(CrmConnection, "change", connection.pk), {
        "name": "HubSpot", "base_url": connection.base_url, "token": "", "requests_per_10s": 100,
        "daily_cap": 250000, "conflict_policy": "accept_crm_handoffs", "is_active": "on"})
    connection.refresh_from_db()
    assert connection.token == TOKEN and connection.conflict_policy == "accept_crm_handoffs"


def test_check_connection_says_what_is_wrong(ops, connection, adapter):
    adapter.check_error = CrmError("auth", "HubSpot refused the access token (401): it is wrong, expired or revoked.")
    page = ops.post(url(CrmConnection, "check_detail", connection.pk), DIALOG, follow=True).content.decode()
    assert "HubSpot refused the access token (401)" in page
    connection.refresh_from_db()
    assert connection.check_ok is False
    adapter.check_error = None
    ops.post(url(CrmConnection, "changelist"), {"action": "check_connection", ACTION_CHECKBOX_NAME: [connection.pk]})
    connection.refresh_from_db()
    assert connection.check_ok


def test_a_stage_mapping_is_edited_with_history(ops, connection):
    mapping = CrmStageMapping.objects.get(connection=connection, stage="loyal")
    response = ops.post(url(CrmStageMapping, "change", mapping.pk), {"hubspot_stage": "customer"})
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.hubspot_stage == "customer" and mapping.history.count() == 2
    page = ops.get(url(CrmStageMapping, "changelist")).content.decode()
    assert "Customer (customer)" in page and "Loyal" in page


def test_agents_without_a_hubspot_owner_are_listed(ops, connection, adapter):
    grace = make_agent(make_user("grace"))
    make_agent(make_user("linus"))  # no HubSpot owner has his email
    adapter.add_owner(grace, "7001")
    connections.crm_connection_check(connection=connection, actor=Actor.system("tests"))
    page = ops.get(url(CrmOwnerLink, "changelist") + "?owner=no").content.decode()
    assert "linus@example.com" in page and "none has this email" in page and "grace@example.com" not in page
    assert CrmOwnerLink.objects.get(agent=grace).owner_id == "7001"
    make_agent(make_user("ada-new"))  # added since the check
    page = ops.get(url(CrmOwnerLink, "changelist"), follow=True).content.decode()
    assert "Not looked up in HubSpot yet: ada-new" in page


def test_the_outbox_lists_changes_in_words_and_filters_dead_letters(ops, connection):
    make_agent(make_user("grace", first_name="Grace", last_name="Hopper"), teams=["commerce"])
    make_owned_customer(name="Ada Lovelace")
    make_customer(name="Alan Turing")
    OutboundMessage.objects.filter(customer__display_name="Alan Turing").update(
        state=M.DEAD, error_kind="server", last_error="HubSpot answered 502 three times.")
    page = ops.get(url(OutboundMessage, "changelist")).content.decode()
    assert "Owner: Grace Hopper (Commerce)" in page and "Lifecycle stage: Purchased" in page
    assert "New contact: Ada Lovelace" in page
    with CaptureQueriesContext(db) as queries:
        dead = ops.get(url(OutboundMessage, "changelist") + "?state=dead").content.decode()
    assert "Alan Turing" in dead and "Ada Lovelace" not in dead and "HubSpot answered 502" in dead
    assert len(queries) < 20
    owner = OutboundMessage.objects.get(field="owner")
    assert "Owner: Grace Hopper (Commerce)" in ops.get(url(OutboundMessage, "change", owner.pk)).content.decode()


def test_operations_replay_dead_letters_and_others_cannot(ops, connection, client, support_agent):
    make_customer()
    OutboundMessage.objects.update(state=M.DEAD, error_kind="server")
    ids = list(OutboundMessage.objects.values_list("pk", flat=True))
    response = ops.post(url(OutboundMessage, "changelist"), {"action": "replay", ACTION_CHECKBOX_NAME: ids},
                        follow=True)
    assert "2 dead letters are pending again" in response.content.decode()
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {M.PENDING}
    OutboundMessage.objects.update(state=M.DEAD)
    client.force_login(make_user(group="Manager"))
    client.post(url(OutboundMessage, "replay_detail", ids[0]), DIALOG)
    assert set(OutboundMessage.objects.values_list("state", flat=True)) == {M.DEAD}


def test_every_crm_page_opens_for_operations(ops, connection):
    make_owned_customer()
    message = OutboundMessage.objects.first()
    for path in [url(CrmConnection, "changelist"), url(CrmConnection, "change", connection.pk),
                 url(CrmConnection, "history", connection.pk), url(CrmStageMapping, "changelist"),
                 url(CrmOwnerLink, "changelist"), url(OutboundMessage, "changelist"),
                 url(OutboundMessage, "change", message.pk)]:
        assert ops.get(path).status_code == 200, path


def test_the_connection_shows_todays_requests_in_hubspots_day(ops, connection):
    from django.utils import timezone
    from zoneinfo import ZoneInfo
    today = timezone.now().astimezone(ZoneInfo("Asia/Tokyo")).date()
    CrmConnection.objects.filter(pk=connection.pk).update(time_zone="Asia/Tokyo", requests_day=today,
                                                          requests_today=1234, daily_cap=250000)
    page = ops.get(url(CrmConnection, "change", connection.pk)).content.decode()
    assert "1,234 of 250,000 (HubSpot&#x27;s day, Asia/Tokyo; deliveries stop at 95%)" in page
