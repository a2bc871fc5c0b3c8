"""Connecting the CRM: `manage.py connect_crm hubspot --token …` stores the token encrypted, checks it,
links agents to owners by email, reads the lifecycle stages, installs the default stage mappings,
and says clearly when the token or a scope is refused."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db

from integrations.crm import connections
from integrations.crm.base import CrmError, Owner, StageOption
from integrations.crm.connections import crm_connect
from integrations.crm.models import CrmConnection, CrmOwnerLink, CrmStageMapping
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind
from lifecycle.services.errors import PermissionDenied
from tests.factories import make_agent, make_user
from tests.integrations.crm.outbox_support import TOKEN, FakeCrm

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(monkeypatch):
    """The CRM every connection in the test talks to."""
    crm = FakeCrm(scopes=["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.owners.read"])
    monkeypatch.setattr(connections, "adapter_for", lambda connection: crm)
    return crm


def connect(*args):
    out = StringIO()
    call_command("connect_crm", "hubspot", *args, stdout=out)
    return out.getvalue()


def test_connecting_stores_the_token_encrypted_and_says_what_it_found(account):
    grace = make_agent(make_user("grace", first_name="Grace", last_name="Hopper"))
    linus = make_agent(make_user("linus"))
    account.add_owner(grace, "7001")
    out = connect("--token", TOKEN, "--base-url", "http://127.0.0.1:8765/")
    connection = CrmConnection.objects.get()
    assert connection.base_url == "http://127.0.0.1:8765" and connection.token == TOKEN
    with db.cursor() as cursor:
        cursor.execute("SELECT token FROM crm_crmconnection")
        assert TOKEN not in cursor.fetchone()[0]
    assert "Connected HubSpot (http://127.0.0.1:8765)" in out
    assert "Grace Hopper → HubSpot owner grace@example.com" in out
    assert "linus (linus@example.com): no HubSpot owner has this email" in out
    assert "Customer (customer)" in out and "crm.objects.owners.read" in out
    assert CrmOwnerLink.objects.get(agent=grace).owner_id == "7001"
    assert CrmOwnerLink.objects.get(agent=linus).owner_id == ""
    connection.refresh_from_db()
    assert connection.check_ok and [o["value"] for o in connection.stage_options][:2] == ["subscriber", "lead"]


def test_the_default_stage_mappings_follow_hubspots_default_stages(account):
    connect("--token", TOKEN)
    mapped = dict(CrmStageMapping.objects.values_list("stage", "hubspot_stage"))
    assert mapped == {"prospect": "lead", "purchased": "opportunity", "onboarding": "customer", "active": "customer",
                      "at_risk": "customer", "loyal": "evangelist", "churned": "other"}


def test_connecting_again_updates_the_connection_and_keeps_edited_mappings(account):
    connect("--token", TOKEN)
    CrmStageMapping.objects.filter(stage="loyal").update(hubspot_stage="customer")
    connect("--token", "pat-new-token-1234567890", "--limit", "190")
    connection = CrmConnection.objects.get()
    assert connection.token == "pat-new-token-1234567890" and connection.requests_per_10s == 190
    assert CrmStageMapping.objects.get(stage="loyal").hubspot_stage == "customer"
    assert connection.history.count() == 2  # the settings' history, the token not in it
    assert "token" not in {f.name for f in connection.history.model._meta.fields}


def test_a_bad_token_is_refused_with_a_clear_message_and_a_sync_failure(account):
    account.check_error = CrmError("auth", "HubSpot refused the access token (401): it is wrong, expired or revoked.")
    with pytest.raises(CommandError) as refused:
        connect("--token", "pat-wrong")
    assert "HubSpot refused the access token (401)" in str(refused.value)
    assert "Fix the token or its scopes" in str(refused.value)
    failure = ExceptionCase.objects.get(kind=ExceptionKind.SYNC_FAILURE)
    assert "HubSpot refused the access token" in failure.summary


def test_a_missing_scope_is_named(account):
    account.check_error = CrmError("scope", "The token lacks crm.objects.owners.read: add it to the private app.",
                                   missing_scopes=["crm.objects.owners.read"])
    with pytest.raises(CommandError, match="lacks crm.objects.owners.read"):
        connect("--token", TOKEN)


def test_a_mapping_to_a_stage_the_account_lacks_is_reported(account):
    account.stages = [StageOption("lead", "Lead", 0), StageOption("customer", "Customer", 1)]
    out = connect("--token", TOKEN)
    assert "Loyal is mapped to 'evangelist', which this account has no stage for" in out


def test_archived_owners_link_nobody(account):
    agent = make_agent()
    account._owners.append(Owner("9", agent.user.email, archived=True))
    connect("--token", TOKEN)
    assert CrmOwnerLink.objects.get(agent=agent).owner_id == ""


def test_only_operations_connect_the_crm(account):
    with pytest.raises(PermissionDenied):
        crm_connect(token=TOKEN, actor=Actor.for_user(make_user(group="Manager")))
    connection, check = crm_connect(token=TOKEN, actor=Actor.for_user(make_user(group="Operations")))
    assert check.ok
