"""Fixtures of the console's page tests."""

import pytest


@pytest.fixture
def client_for(client):
    """Log the test client in as `user`: client_for(user).get(...)."""

    def login(user):
        client.force_login(user)
        return client

    return login
