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
    listing = client.get(url(InboundEvent, "changelist")).content.decode()
    assert 'href="?status__exact=processed"' in listing and "Processed" in _status_cells(listing)
