"""Keys (issue 16, item 8): production starts only with an explicit encryption key, a rotation
re-encrypts every stored secret without losing one, and the checks say what is missing."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from integrations.crm.models import CrmConnection, CrmWebhookSecret
from integrations.models import StoreConnection
from integrations.stores import store_connect
from integrations.woocommerce import webhooks
from integrations.woocommerce.signatures import compute_signature
from lifecycle.actors import Actor
from tests.security.manage import manage, production_env

OLD, NEW, LOST = (Fernet.generate_key().decode() for _ in range(3))
WEBHOOK_SECRET = "whsec-rotate-5c1e"


# --- starting in production ---------------------------------------------------------------------------
def test_production_refuses_to_start_without_an_encryption_key():
    result = manage("check", **production_env(AFTERCARE_ENCRYPTION_KEY=""))
    assert result.returncode != 0
    assert "needs AFTERCARE_ENCRYPTION_KEY" in result.stderr
    assert "Fernet.generate_key()" in result.stderr  # and says how to make one


@pytest.mark.parametrize("variable", ["AFTERCARE_ENCRYPTION_KEY", "AFTERCARE_PREVIOUS_ENCRYPTION_KEYS"])
def test_a_key_that_is_no_fernet_key_is_refused_before_anything_is_encrypted_with_it(variable):
    result = manage("check", **{variable: "my-secret-password"})
    assert result.returncode != 0 and "take Fernet keys" in result.stderr


def test_check_deploy_warns_about_settings_without_an_explicit_key():
    result = manage("check", "--deploy")  # development settings, as a deployment being prepared has them
    assert "aftercare.W001" in result.stderr and "changing SECRET_KEY makes them unreadable" in result.stderr


# --- rotation -------------------------------------------------------------------------------------------
def stored_column(model, field, pk):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{field}" FROM "{model._meta.db_table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def secrets_under_old_key(db, settings):
    """A shop, a CRM connection and its webhook secret, stored under the old key."""
    settings.AFTERCARE_ENCRYPTION_KEY, settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = OLD, []
    store = store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck_live_1",
                          consumer_secret="cs_live_2", webhook_secret=WEBHOOK_SECRET, actor=Actor.system("tests"))
    crm = CrmConnection.objects.create(name="HubSpot", token="pat-eu1-token-3")
    hook = CrmWebhookSecret.objects.create(connection=crm, secret="hubspot-client-secret-4")
    return store, crm, hook


def read_back(store, crm, hook):
    store = StoreConnection.objects.get(pk=store.pk)
    return (store.consumer_key, store.consumer_secret, store.webhook_secret,
            CrmConnection.objects.get(pk=crm.pk).token, CrmWebhookSecret.objects.get(pk=hook.pk).secret)


PLAIN = ("ck_live_1", "cs_live_2", WEBHOOK_SECRET, "pat-eu1-token-3", "hubspot-client-secret-4")


def rotate(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_key", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_a_rotation_moves_every_stored_secret_to_the_new_key(secrets_under_old_key, settings, client):
    store, crm, hook = secrets_under_old_key
    before = stored_column(StoreConnection, "webhook_secret", store.pk)

    # when: the new key is deployed with the old one as previous: everything still reads
    settings.AFTERCARE_ENCRYPTION_KEY, settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = NEW, [OLD]
    assert read_back(store, crm, hook) == PLAIN
    # and: the dry run says what would move, and moves nothing
    assert "integrations.StoreConnection.webhook_secret: 1 to re-encrypt" in rotate("--dry-run")
    assert stored_column(StoreConnection, "webhook_secret", store.pk) == before
    # and: the rotation re-encrypts all five secrets
    out = rotate()
    for line in ["integrations.StoreConnection.consumer_key: 1 re-encrypted", "crm.CrmConnection.token: 1 re-encrypted",
                 "crm.CrmWebhookSecret.secret: 1 re-encrypted", "Every stored secret is encrypted under the current key"]:
        assert line in out

    # then: without the old key everything still reads, and the shop's deliveries are accepted
    settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = []
    assert read_back(store, crm, hook) == PLAIN
    webhooks._stores.clear()
    raw = b'{"id": 1}'
    response = client.post("/webhooks/woocommerce/main/", data=raw, content_type="application/json",
                           HTTP_X_WC_WEBHOOK_TOPIC="product.updated",
                           HTTP_X_WC_WEBHOOK_SIGNATURE=compute_signature(raw, WEBHOOK_SECRET))
    assert response.status_code == 200
    # and: a second run finds nothing to do
    assert "0 re-encrypted, 1 already under the current key" in rotate()


def test_a_secret_no_key_reads_is_named_left_alone_and_fails_the_run(secrets_under_old_key, settings):
    store, crm, hook = secrets_under_old_key
    settings.AFTERCARE_ENCRYPTION_KEY = LOST  # a CRM token written by a process with a key nobody kept
    CrmConnection.objects.filter(pk=crm.pk).update(token="pat-written-under-a-lost-key")
    lost_token = stored_column(CrmConnection, "token", crm.pk)
    settings.AFTERCARE_ENCRYPTION_KEY, settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = NEW, [OLD]

    with pytest.raises(CommandError, match="1 stored secret"):
        rotate()

    # the others moved; the unreadable one is as it was, for the key's owner to bring back
    settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = []
    store = StoreConnection.objects.get(pk=store.pk)
    assert store.webhook_secret == WEBHOOK_SECRET
    assert stored_column(CrmConnection, "token", crm.pk) == lost_token
    # and: the database check names it
    from console.checks import readable_secrets

    [error] = readable_secrets(None, databases=["default"])
    assert error.id == "aftercare.E001" and f"crm.CrmConnection {crm.pk} token" in error.msg


def test_an_install_without_a_key_moves_to_one_and_then_survives_a_new_secret_key(db, settings):
    # given: an install that never set a key (its secrets under a key derived from SECRET_KEY)
    settings.AFTERCARE_ENCRYPTION_KEY, settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = None, []
    store = store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret=WEBHOOK_SECRET, actor=Actor.system("tests"))
    derived = rotate("--derived-key").strip()

    # when: it sets a key, names the derived one as previous, and rotates
    settings.AFTERCARE_ENCRYPTION_KEY, settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = NEW, [derived]
    rotate()
    settings.AFTERCARE_PREVIOUS_ENCRYPTION_KEYS = []

    # then: SECRET_KEY can change (the case: every delivery was a 500 after it)
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    assert StoreConnection.objects.get(pk=store.pk).webhook_secret == WEBHOOK_SECRET
