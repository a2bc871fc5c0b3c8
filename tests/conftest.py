"""Shared fixtures. Tests run against the configured database (SQLite by default, PostgreSQL in CI).

A test that needs a service (PostgreSQL, a broker-backed worker) is marked; without the service it
is skipped on a developer machine and FAILS under CI=true, so CI can never pass by skipping.
"""

import os

import pytest
from django.db import connection

from tests.factories import make_agent, make_user

IN_CI = os.environ.get("CI", "").lower() == "true"
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def need_service(reason):
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _service_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        need_service("needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture(autouse=True)
def _defaults_after_flush(request):
    """Transactional tests flush the database, data-migration rows included: put them back."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
        from django.apps import apps

        from console import defaults as console_defaults
        from integrations import defaults as integration_defaults
        from lifecycle import defaults as lifecycle_defaults

        lifecycle_defaults.install_defaults(apps)
        integration_defaults.install_defaults(apps)
        console_defaults.install_defaults(apps)


@pytest.fixture
def manager(db):
    return make_user("manager", group="Manager")


@pytest.fixture
def support_agent(db):
    user = make_user("agent", group="Support agent")
    make_agent(user, teams=["support", "success", "commerce"])
    return user


@pytest.fixture
def operations(db):
    return make_user("ops", group="Operations")


@pytest.fixture
def shared_fixture():
    """Path of a file in tests/fixtures (copies of the published examples; see its README)."""

    def path(*parts):
        full = os.path.join(FIXTURES, *parts)
        if not os.path.exists(full):
            pytest.fail(f"missing fixture {full}")
        return full

    return path


@pytest.fixture
def prepared_statements(db):
    """The statements this connection has prepared on PostgreSQL (pg_prepared_statements), as a set."""

    def statements():
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return {statement for (statement,) in cursor.fetchall()}

    return statements
