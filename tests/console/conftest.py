"""Fixtures of the console's page tests."""

import pytest
from django.core.cache import cache

from lifecycle.models import Team
from tests.factories import make_agent


@pytest.fixture
def client_for(client):
    """Log the test client in as `user`: client_for(user).get(...)."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def fresh_dashboard():
    """The dashboard caches its snapshot: each test starts from the database, and leaves nothing."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staffed_manager_client(client, manager):
    """A manager logged in, with an agent in every team: new customers get an agent, so no
    `unassigned_customer` exception joins a queue behind the test's back."""
    make_agent(teams=list(Team.objects.values_list("slug", flat=True)))
    client.force_login(manager)
    return client
