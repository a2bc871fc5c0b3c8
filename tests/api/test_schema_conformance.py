"""Every endpoint against its own OpenAPI schema, with schemathesis: generated valid and invalid
requests, each checked for server errors, documented status codes, content types and response
bodies that match the schema, and that the endpoint refuses requests without credentials."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from console.wsgi import application
from tests.api.conftest import token_client, wait_on_unmapped

pytestmark = pytest.mark.django_db

# Enough to reach every parameter and status code of these small endpoints in a few seconds.
EXAMPLES = 25
HYPOTHESIS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def in_test_transaction():
    """Call the real WSGI application inside the test's transaction: Django's handler closes the
    connection around each request (Django's own test client disconnects the same signals)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield application
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _load(user, app):
    headers = {"Authorization": token_client(user)._credentials["HTTP_AUTHORIZATION"]}
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, headers=headers), headers


@pytest.fixture
def api(world, manager, in_test_transaction):
    return _load(manager, in_test_transaction)


def _operations(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {"/api/v1/customers/", "/api/v1/customers/{id}/",
                                              "/api/v1/customers/{id}/timeline/", "/api/v1/exceptions/"}
    return operations


def _exercise(operation, headers, mode, **fixed):
    @HYPOTHESIS
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers, **fixed))
    def run(case):
        case.call_and_validate(headers=headers)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_the_schema(api, mode):
    schema, headers = api
    for operation in _operations(schema):
        _exercise(operation, headers, mode)


@pytest.mark.parametrize("role", ["support_agent", "operations"])
def test_every_operation_conforms_for_the_other_roles(world, role, request, in_test_transaction):
    # Agents read through the visibility filter; operations get 403 on exceptions and null owners.
    schema, headers = _load(request.getfixturevalue(role), in_test_transaction)
    for operation in _operations(schema):
        _exercise(operation, headers, GenerationMode.POSITIVE)


def test_operations_on_a_real_customer_conform_to_the_schema(api, world):
    # Generated ids are mostly unknown (404): pin one that exists so 200 bodies are validated too.
    schema, headers = api
    for operation in _operations(schema):
        if "{id}" in operation.path:
            _exercise(operation, headers, GenerationMode.POSITIVE, path_parameters={"id": world.anna.pk})


@pytest.mark.parametrize("role", ["manager", "support_agent", "operations"])
def test_an_order_waiting_for_a_mapping_conforms_for_every_role(world, role, request, in_test_transaction):
    # `waiting_on` with the exception (manager), with its id hidden (an agent: the managers' queue), without it
    # (operations)
    wait_on_unmapped(world.anna, number="1043")
    schema, headers = _load(request.getfixturevalue(role), in_test_transaction)
    for operation in _operations(schema):
        if operation.path.startswith("/api/v1/customers/") and not operation.path.endswith("timeline/"):
            _exercise(operation, headers, GenerationMode.POSITIVE, path_parameters={"id": world.anna.pk})
