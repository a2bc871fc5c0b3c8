"""What the console reads back from the CRM, in the admin: managers and operations map deal stages
(through the service, with history, and see which order states go to HubSpot at each stage);
operations set the webhook secret, which is never shown back and is stored encrypted; everyone
who watches the sync reads the pull cursors, which nobody edits."""

import pytest
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from integrations.crm import deals
from integrations.crm.models import CrmCursor, CrmDealStageMapping, CrmWebhookSecret
from tests.integrations.crm.outbox_support import connection, crm  # noqa: F401

pytestmark = pytest.mark.django_db
SECRET = "0f6d3c5e-app-client-secret-9b1a4a8e"


def url(model, view, *args):
    return reverse(f"admin:crm_{model._meta.model_name}_{view}", args=args)


def test_a_manager_maps_a_deal_stage_through_the_service_with_history(client, manager, connection):
    client.force_login(manager)
    page = client.get(url(CrmDealStageMapping, "changelist")).content.decode()
    # HubSpot's default pipeline, named, with what it means and which order states are sent at it
    assert "Closed won (closedwon)" in page and "Paid, Fulfilling, Shipped, Delivered, Completed" in page

    response = client.post(url(CrmDealStageMapping, "add"), {
        "connection": connection.pk, "dealstage": "1234567", "canonical": "shipped"}, follow=True)

    assert response.status_code == 200
    mapping = CrmDealStageMapping.objects.get(connection=connection, dealstage="1234567")
    assert mapping.canonical == "shipped" and mapping.history.count() == 1
    assert deals.push_stages(connection.pk)["shipped"] == "1234567"  # orders shipped now go at that stage


def test_support_agents_do_not_see_the_crms_inbound_pages(client, support_agent, connection):
    client.force_login(support_agent)
    for model in (CrmDealStageMapping, CrmWebhookSecret, CrmCursor):
        assert client.get(url(model, "changelist")).status_code == 403, model


def test_operations_set_the_webhook_secret_which_is_never_shown_back(client, operations, manager, connection):
    client.force_login(operations)
    response = client.post(url(CrmWebhookSecret, "add"), {"connection": connection.pk, "secret": SECRET},
                           follow=True)
    page = response.content.decode()
    assert f"/webhooks/hubspot/{connection.pk}/" in page and SECRET not in page

    stored = CrmWebhookSecret.objects.get(connection=connection)
    assert stored.secret == SECRET
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM crm_crmwebhooksecret")
        assert SECRET not in cursor.fetchone()[0]
    page = client.get(url(CrmWebhookSecret, "change", stored.pk)).content.decode()
    assert SECRET not in page and "Stored: 0f6…4a8e" in page

    # leaving it empty keeps it; a manager has no business with it
    client.post(url(CrmWebhookSecret, "change", stored.pk), {"secret": ""})
    assert CrmWebhookSecret.objects.get(pk=stored.pk).secret == SECRET
    client.force_login(manager)
    assert client.get(url(CrmWebhookSecret, "changelist")).status_code == 403


def test_the_pull_cursors_are_read_only_for_operations_and_managers(client, operations, manager, connection):
    cursor = CrmCursor.objects.create(connection=connection, object_type="contacts", modified_at=timezone.now(),
                                      last_id="50100", records=50_000, last_success_at=timezone.now())
    for user in (operations, manager):
        client.force_login(user)
        page = client.get(url(CrmCursor, "changelist")).content.decode()
        assert "Contacts" in page and "after HubSpot record 50100" in page
        assert client.get(url(CrmCursor, "change", cursor.pk)).status_code == 200
        client.post(url(CrmCursor, "change", cursor.pk), {"last_id": "1"})
        assert CrmCursor.objects.get(pk=cursor.pk).last_id == "50100"
