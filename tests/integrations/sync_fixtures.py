"""Fixtures and helpers for the REST backfill tests: a served sandbox store and a console store pointing at it."""

from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.stores import store_connect
from integrations.woocommerce.backfill import store_backfill
from integrations.woocommerce.client import StoreClient
from integrations.woocommerce.mappers import DEFAULT_STATUS_MAP, map_order
from integrations.woocommerce.sandbox import SandboxStore
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, Order, OrderSourceState, TimelineEvent

NOW = "2025-06-01T12:00:00"
ACTOR = Actor.task("sync_woocommerce")
SYNC, WEBHOOKS = "store:sandbox/sync", "store:sandbox/webhooks"


@pytest.fixture
def sandbox():
    with SandboxStore.running(seed=7, orders=450, consumer_key="ck_test", consumer_secret="cs_test", now=NOW) as s:
        yield s


def connect(url, secret="cs_test", **options):
    return store_connect(name="Sandbox Shop", slug="sandbox", base_url=url, consumer_key="ck_test",
                         consumer_secret=secret, webhook_secret="whsec", actor=Actor.system("tests"), **options)


@pytest.fixture
def shop(sandbox):
    return connect(sandbox.url)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def backfill(sleeps):
    """Run a backfill with a client that records its waits instead of sleeping."""

    def run(store, **kwargs):
        kwargs.setdefault("client", StoreClient(store, sleep=sleeps.append))
        return store_backfill(store=store, actor=ACTOR, **kwargs)

    return run


def expected_states(sandbox):
    """What WooCommerce lists (trash is hidden by status=any) mapped with the default statuses."""
    states = {}
    for order_id in sandbox.orders:
        data = map_order(sandbox.get_order(order_id), store_slug="sandbox", status_map=DEFAULT_STATUS_MAP)
        if data.raw_status != "trash" and data.canonical_state:
            states[str(order_id)] = data.canonical_state
    return states


def console_states():
    return dict(Order.objects.filter(namespace="sandbox").values_list("external_id", "state"))


def order_requests(sandbox, since=0):
    """Query parameters of the REST order listings the sandbox answered after request `since`.

    Last value wins, as in PHP: over plain http the woocommerce client sends its parameters twice
    (in the OAuth-signed URL and again as requests' params)."""
    return [{k: v[-1] for k, v in parse_qs(urlsplit(r["path"]).query).items()}
            for r in list(sandbox.requests)[since:] if urlsplit(r["path"]).path.endswith("/wc/v3/orders")]


def sync_failure(subject):
    return ExceptionCase.objects.filter(kind=ExceptionKind.SYNC_FAILURE, subject_key=subject).order_by("pk").last()


def assert_landed_once(sandbox):
    expected = expected_states(sandbox)
    assert console_states() == expected
    assert OrderSourceState.objects.count() == len(expected)
    assert TimelineEvent.objects.filter(kind="order_created").count() == len(expected)
