"""What people read in the admin: statuses as labels, exception evidence as labelled fields, customer cells
linking to the console's customer screen."""

import re

import pytest
from django.urls import reverse

from integrations.models import InboundEvent, SyncRun
from tests.console.test_admin_integrations import _event, store, url  # noqa: F401 -- the store fixture

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


def _status_cells(html):
    """The text of every unfold label on the page."""
    return [" ".join(text.split()) for text in re.findall(r"<span class=\"inline-block font-semibold[^>]*>(.*?)</span>",
                                                         html, re.S)]


# --- deliveries: statuses as labels -------------------------------------------------------------
@pytest.mark.parametrize("role", ["manager", "operations"])
def test_delivery_statuses_read_as_labels_in_list_filters_and_change_page(request, client_for, store, role):
    client = client_for(request.getfixturevalue(role))
    processed, failed = _event(store), _event(store, status=S.FAILED, resource_id="2", reason="boom")
    run = SyncRun.objects.create(store=store)
    pages = [url(InboundEvent, "changelist"), url(InboundEvent, "changelist") + "?attention=problems",
             url(InboundEvent, "change", processed.pk), url(InboundEvent, "change", failed.pk),
             url(SyncRun, "changelist"), url(SyncRun, "change", run.pk)]
    for page in pages:
        html = client.get(page).content.decode()
        for raw in [*S.values, *SyncRun.Status.values]:
            assert f"(&#x27;{raw}&#x27;" not in html and f"('{raw}'" not in html, (page, raw)
        assert all(not cell.startswith("(") for cell in _status_cells(html)), (page, _status_cells(html))

    assert "Processed" in _status_cells(client.get(url(InboundEvent, "change", processed.pk)).content.decode())
    assert "Failed (will be retried)" in _status_cells(
        client.get(url(InboundEvent, "changelist") + "?attention=problems").content.decode())
    assert SyncRun.Status.RUNNING.label in _status_cells(
        client.get(url(SyncRun, "change", run.pk)).content.decode())
    title = re.search(r"<title>(.*?)</title>", client.get(url(InboundEvent, "change", processed.pk)).content.decode(),
                      re.S).group(1)
    assert "(Processed)" in title and "(processed)" not in title
    page = client.get(url(InboundEvent, "change", processed.pk)).content.decode()
    assert "(processed)" not in page  # the breadcrumb names the delivery by its label too
    listing = client.get(url(InboundEvent, "changelist")).content.decode()
    assert 'href="?status__exact=processed"' in listing and "Processed" in _status_cells(listing)


# --- exception evidence as labelled fields ------------------------------------------------------
def _case_with_evidence():
    from lifecycle.actors import Actor
    from lifecycle.services.exceptions import exception_raise
    from tests.factories import make_order, make_owned_customer, team

    ada = make_owned_customer(paid=True, name="Ada Lovelace")
    grace = make_owned_customer(paid=True, name="Grace Hopper")
    order = make_order(ada, state="paid")
    evidence = {"raw_status": "wc-on-hold-custom", "team_id": team("success").pk, "by_id": ada.pk,
                "by_email": grace.pk, "example_order": order.number, "skipped": {"agent": "away"}}
    case, _ = exception_raise(kind="payment_problem", subject_key=f"customer:{ada.pk}", summary="evidence test",
                              customer=ada, evidence=evidence, actor=Actor.system("tests"))
    return case, ada, grace, order


def _evidence_block(html):
    start = html.index("<dl class='evidence")
    return html[start:html.index("</details>", start) + len("</details>")]


@pytest.mark.parametrize("role", ["manager", "support_agent"])  # operations do not open exceptions (403)
def test_exception_evidence_reads_as_labelled_fields_with_the_raw_json_a_click_away(request, client_for, role):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from lifecycle.models import ExceptionCase, Team

    case, ada, grace, order = _case_with_evidence()
    client = client_for(request.getfixturevalue(role))
    page = url(ExceptionCase, "change", case.pk)
    assert client.get(page).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        html = client.get(page).content.decode()
    block = _evidence_block(html)
    fields, raw = block.split("<details", 1)
    for label in ["Raw status", "Team", "Customer found by account id", "Customer found by email", "Example order",
                  "Skipped"]:
        assert f">{label}</dt>" in fields, label
    assert "wc-on-hold-custom" in fields and "Success" in fields
    assert "Ada Lovelace" in fields and "Grace Hopper" in fields and f"#{order.number}" in fields
    assert f'href=\'{reverse("console:customer", args=[grace.pk])}\'' in fields
    assert "raw_status" not in fields and "team_id" not in fields and f">{grace.pk}</dd>" not in fields
    assert "&quot;raw_status&quot;: &quot;wc-on-hold-custom&quot;" in raw and "Raw JSON" in raw
    # One query per referenced model: teams, customers (both keys together), orders.
    for table, column in [("lifecycle_team", "id"), ("lifecycle_customer", "id"), ("lifecycle_order", "number")]:
        lookups = [q for q in queries.captured_queries
                   if f'FROM "{table}"' in q["sql"] and f'"{table}"."{column}" IN' in q["sql"]]
        assert len(lookups) == 1, (table, [q["sql"] for q in lookups])
    assert Team.objects.get(slug="success").name in fields


def test_an_agent_reads_names_only_of_customers_they_may_open(client_for, support_agent):
    from lifecycle.models import Customer, ExceptionCase
    from tests.factories import make_customer

    case, ada, grace, order = _case_with_evidence()
    stranger = make_customer(name="Not Theirs")  # no owner: outside the agent's teams
    assert not Customer.objects.filter(pk=stranger.pk, ownership__isnull=False).exists()
    case.evidence = {**case.evidence, "by_email": stranger.pk}
    case.save(update_fields=["evidence"])
    response = client_for(support_agent).get(url(ExceptionCase, "change", case.pk))
    assert response.status_code == 200
    fields = _evidence_block(response.content.decode()).split("<details", 1)[0]
    assert "Ada Lovelace" in fields and "Not Theirs" not in fields


# --- customer cells link to the customer screen -------------------------------------------------
@pytest.mark.parametrize("role", ["manager", "operations"])
def test_customer_cells_open_the_customer_screen_not_the_admin_record(request, client_for, role):
    from lifecycle.models import CustomerIdentity, ExceptionCase, Handoff, Order, Ownership, TimelineEvent

    case, ada, grace, order = _case_with_evidence()
    client = client_for(request.getfixturevalue(role))
    screen = reverse("console:customer", args=[ada.pk])
    admin_record = reverse("admin:lifecycle_customer_change", args=[ada.pk])
    lists = [Order, Ownership, Handoff, ExceptionCase, CustomerIdentity, TimelineEvent]
    opened = 0
    for model in lists:
        response = client.get(url(model, "changelist"))
        if response.status_code == 403:  # operations: no owners, no exceptions
            continue
        html = response.content.decode()
        assert f'href="{screen}"' in html and ">Ada Lovelace</a>" in html, model
        assert admin_record not in html, model
        opened += 1
    assert opened >= 2
