"""What the pull, conflict, webhook, activity and deal tests share: the sandbox HubSpot account served
on a local port, the real HubSpotAdapter pointed at it, agents linked to its owners by email, and a
connection made through the console's own service."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.crm import outbox
from integrations.crm.connections import crm_connect
from integrations.crm.delivery import outbox_deliver
from integrations.crm.hubspot import HubSpotAdapter
from integrations.crm.models import CrmContactState
from integrations.crm.pulls import crm_pull, pull_actor
from integrations.crm.sandbox import ManualClock, SandboxCrm
from lifecycle.actors import Actor
from lifecycle.models import Customer, Team
from lifecycle.services.ownership import ownership_transfer
from tests.factories import make_agent, make_owned_customer, make_user

TOKEN = "pat-inbound-test"
SYSTEM = Actor.system("tests")
# The sandbox's records are stamped at this frozen moment (moved by crm.clock.advance): half an hour
# ago, so a scan bounded by "now" sees them, and webhook timestamps are fresh.
START = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def sandbox(clock):
    with SandboxCrm.running(token=TOKEN, owners=3, monotonic=clock, now=START.isoformat()) as crm:
        yield crm


@pytest.fixture
def adapter(sandbox, clock):
    # index_lag 0: the sandbox indexes at once (HubSpot's search trails writes by seconds).
    return HubSpotAdapter(TOKEN, base_url=sandbox.url, clock=clock, sleep=clock.sleep, index_lag_seconds=0)


@pytest.fixture
def agents(db, sandbox):
    """One agent per sandbox owner, by email, in every team that owns customers: [(agent, owner id)]."""
    found = []
    for owner in sandbox.store.owners:
        user = make_user(owner["email"].split("@")[0].replace(".", "_"), group="Support agent", password=None,
                         first_name=owner["firstName"], last_name=owner["lastName"])
        user.email = owner["email"]
        user.save(update_fields=["email"])
        found.append((make_agent(user, teams=["success", "commerce", "marketing", "support"]), owner["id"]))
    return found


@pytest.fixture
def connection(db, sandbox, adapter, agents):
    outbox.kick_reset()
    connected, check = crm_connect(token=TOKEN, actor=SYSTEM, base_url=sandbox.url, adapter=adapter)
    assert check.ok, check.message
    return connected


def pull(connection, adapter, **options):
    connection.refresh_from_db()
    return crm_pull(connection=connection, actor=pull_actor(connection), adapter=adapter, **options)


def deliver(connection, adapter):
    """The outbox's pending changes, sent to the sandbox as the deliverer does (pushed values recorded)."""
    connection.refresh_from_db()
    return outbox_deliver(connection=connection, actor=Actor.task("tests"), adapter=adapter)


def owned_customer(agent, email, *, paid=True):
    """A customer past its first order, owned by `agent` in the success team."""
    customer = make_owned_customer(email=email, paid=paid)
    ownership_transfer(customer=customer, team=Team.objects.get(slug="success"), agent=agent, reason="test setup",
                       actor=SYSTEM)
    return Customer.objects.get(pk=customer.pk)


def crm_state(customer):
    return CrmContactState.objects.filter(customer=customer).first()
