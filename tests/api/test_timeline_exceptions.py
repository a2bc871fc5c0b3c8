"""GET /api/v1/customers/<id>/timeline/ and /api/v1/exceptions/: order, filters, pagination."""

import pytest

from lifecycle.models import ExceptionCase, ExceptionKind
from lifecycle.services.exceptions import exception_raise
from tests.api.conftest import token_client
from tests.factories import SYSTEM

pytestmark = pytest.mark.django_db


def test_timeline_is_newest_first_and_pages_by_cursor(world, manager):
    client = token_client(manager)
    url = f"/api/v1/customers/{world.anna.pk}/timeline/"
    everything = client.get(url, {"page_size": 100}).json()["results"]
    assert len(everything) == world.anna.timeline.count()
    assert [e["occurred_at"] for e in everything] == sorted((e["occurred_at"] for e in everything), reverse=True)
    assert set(everything[0]) == {"id", "kind", "source", "summary", "data", "order", "actor", "occurred_at"}

    seen, page = [], client.get(url, {"page_size": 3}).json()
    while True:
        seen += [e["id"] for e in page["results"]]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert seen == [e["id"] for e in everything]


def test_timeline_filters_by_source(world, manager):
    client = token_client(manager)
    shop = client.get(f"/api/v1/customers/{world.anna.pk}/timeline/", {"source": "shop"}).json()["results"]
    assert shop and {e["source"] for e in shop} == {"shop"}
    assert any(e["kind"] == "order_created" and e["order"] == "1042" for e in shop)
    assert client.get(f"/api/v1/customers/{world.anna.pk}/timeline/", {"source": "fax"}).status_code == 400


def _exceptions(client, **params):
    response = client.get("/api/v1/exceptions/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_exceptions_filter_by_queue_status_and_kind(world, manager):
    client = token_client(manager)
    in_marketing = {x["kind"]: x for x in _exceptions(client, queue="marketing")}
    # Ben waits for an agent: his clock moved with him to the team that owns him now
    assert set(in_marketing) == {"duplicate_customer", "unassigned_customer"}
    ben = in_marketing["duplicate_customer"]
    assert (ben["id"], ben["kind"], ben["queue"]["slug"], ben["customer"]["id"]) == (
        world.ben_open.pk, "duplicate_customer", "marketing", world.ben.pk)
    assert set(ben) >= {"kind", "queue", "assignee", "due_at", "status", "severity", "opened_at", "breached_at",
                        "closed_at", "summary", "order"}

    exception_raise(kind=ExceptionKind.UNMAPPED_STATUS, subject_key="store:main/status:on-the-way",
                    summary="on-the-way has no mapping", actor=SYSTEM)  # the managers' queue's kind
    managers = _exceptions(client, queue="managers")
    assert managers and all(x["queue"] is None for x in managers)
    assert {x["id"] for x in managers} == set(
        ExceptionCase.objects.filter(queue__isnull=True).values_list("id", flat=True))

    [resolved] = _exceptions(client, status="resolved")
    assert (resolved["kind"], resolved["closed_at"] is not None) == ("payment_problem", True)
    assert {x["kind"] for x in _exceptions(client, kind="state_mismatch")} == {"state_mismatch"}
    assert _exceptions(client, queue="marketing", status="resolved") == []
    assert _exceptions(client, queue="no-such-team") == []


def test_exceptions_are_oldest_first(world, manager):
    ids = [x["id"] for x in _exceptions(token_client(manager))]
    assert ids == sorted(ids) and len(ids) == ExceptionCase.objects.count()


@pytest.mark.parametrize("params", [{"status": "closed"}, {"kind": "whatever"}, {"queue": ""}])
def test_exceptions_refuse_unknown_filters(world, manager, params):
    assert token_client(manager).get("/api/v1/exceptions/", params).status_code == 400


def test_one_queue_in_one_status_is_oldest_opened_first_across_pages(world, manager):
    from datetime import timedelta

    from django.utils import timezone

    from lifecycle.models import ExceptionKind
    from lifecycle.services.exceptions import exception_raise
    from tests.factories import SYSTEM, make_customer, team

    # given three open exceptions in the support queue, the newest row opened first
    made = []
    for _ in range(3):
        customer = make_customer()
        exception, _ = exception_raise(kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"customer:{customer.pk}",
                                       summary="twin?", customer=customer, actor=SYSTEM)
        made.append(exception)
    now = timezone.now()
    for age, exception in zip((1, 2, 3), made, strict=True):
        ExceptionCase.objects.filter(pk=exception.pk).update(queue=team("support"),
                                                             opened_at=now - timedelta(hours=age))

    # when a script pages through the queue two at a time
    client, seen = token_client(manager), []
    page = client.get("/api/v1/exceptions/", {"queue": "support", "status": "open", "page_size": 2}).json()
    while True:
        seen += [x["id"] for x in page["results"]]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()

    # then it sees them by opening time, oldest first
    assert seen == [e.pk for e in reversed(made)]
