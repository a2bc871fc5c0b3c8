"""API tokens: `manage.py create_api_token` and the admin page."""

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token, TokenProxy
from unfold.admin import ModelAdmin as UnfoldModelAdmin

from tests.api.conftest import token_client
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _run(*args):
    out = StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_the_command_prints_a_token_that_authenticates_its_user(manager, world):
    key = _run("manager")
    assert Token.objects.get(user=manager).key == key
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/customers/").status_code == 200


def test_a_rerun_prints_the_same_token_and_rotate_replaces_it(manager, world):
    first = _run("manager")
    assert _run("manager") == first
    rotated = _run("manager", "--rotate")
    assert rotated != first and Token.objects.get(user=manager).key == rotated
    from rest_framework.test import APIClient

    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert old.get("/api/v1/customers/").status_code == 401


def test_the_command_refuses_unknown_and_inactive_users(db):
    with pytest.raises(CommandError, match="No user named"):
        _run("nobody")
    make_user("gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        _run("gone")
    assert not Token.objects.exists()


def test_tokens_are_managed_in_the_unfold_admin(admin_client, manager):
    assert isinstance(admin.site._registry[TokenProxy], UnfoldModelAdmin)
    token_client(manager)  # gives the manager a token
    listing = admin_client.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 200 and b"manager" in listing.content
    add = admin_client.get("/admin/authtoken/tokenproxy/add/")
    assert add.status_code == 200
    created = admin_client.post("/admin/authtoken/tokenproxy/add/", {"user": make_user("script").pk})
    assert created.status_code == 302 and Token.objects.filter(user__username="script").exists()
