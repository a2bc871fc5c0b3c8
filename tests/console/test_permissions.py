"""A user's permissions are read in one query, their own and their groups' together
(console/permissions.py), with ModelBackend's answers."""

from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_user


def _fresh(user):
    return User.objects.get(pk=user.pk)  # no permission cache yet


def test_own_and_group_permissions_count_and_are_read_in_one_query(db):
    user = make_user("mixed", group="Operations")
    user.user_permissions.add(Permission.objects.get(codename="view_logentry"))
    group_only = list(Group.objects.get(name="Operations").permissions.values_list("content_type__app_label",
                                                                                    "codename"))
    user = _fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("admin.view_logentry")
        assert all(user.has_perm(f"{app}.{codename}") for app, codename in group_only)
        assert not user.has_perm("auth.delete_user")
    assert len(queries) == 1
    assert user.get_all_permissions() == {f"{a}.{c}" for a, c in group_only} | {"admin.view_logentry"}


def test_a_manager_sees_what_the_manager_group_grants_and_nothing_else(manager):
    granted = {f"{a}.{c}" for a, c in Group.objects.get(name="Manager").permissions
               .values_list("content_type__app_label", "codename")}
    assert _fresh(manager).get_all_permissions() == granted and granted


def test_superusers_have_every_permission_and_inactive_users_none(db):
    boss = make_user("boss", is_superuser=True)
    assert _fresh(boss).get_all_permissions() == {f"{a}.{c}" for a, c in Permission.objects.values_list(
        "content_type__app_label", "codename")}
    gone = make_user("gone", group="Manager", is_active=False)
    assert _fresh(gone).get_all_permissions() == set() and not _fresh(gone).has_perm("lifecycle.view_customer")


def test_a_user_without_permissions_has_none(db):
    assert _fresh(make_user("nobody")).get_all_permissions() == set()
