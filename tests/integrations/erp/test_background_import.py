"""A large upload is read and applied by the worker, its page following it (phase, percent, counts) until
it shows the preview or what was applied; an upload nobody confirms is deleted after a day."""

import html
import os
import time

import pytest
from django.urls import reverse

from integrations.erp import uploads
from integrations.erp.models import ErpImport, ErpRecord
from lifecycle.models import Order
from tests.integrations.erp.test_admin_import import UPLOAD, csv_upload, shop_reports

pytestmark = pytest.mark.django_db
S = ErpImport.State
HEADER = "Order Number,Status,Total,Currency,Modified At"


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def large(monkeypatch):
    """Files of 1 KB and more count as large here (4 MB in the product), so a test file goes to the worker."""
    monkeypatch.setattr(uploads, "BACKGROUND_BYTES", 1024)


def export(orders=3_000):
    rows = [HEADER, *(f"{n},completed,10.00,USD,2025-12-05 12:00:00" for n in range(20_000, 20_000 + orders))]
    return ("\r\n".join(rows) + "\r\n").encode()


def text(response):
    return html.unescape(response.content.decode())


def test_a_large_upload_is_previewed_and_applied_by_the_worker_with_its_page_following_it(
        client, operations, store, large, eager_tasks, django_capture_on_commit_callbacks, monkeypatch):
    for number in (20_000, 20_001):
        shop_reports(store, number)
    client.force_login(operations)
    # Record the progress the worker saves, as the page's polling would see it.
    seen, save = [], uploads.erp_import.__globals__["_progress_save"]

    def watched(batch, phase, fileobj, line):
        save(batch, phase, fileobj, line)
        seen.append(client.get(reverse("admin:erp_erpimport_progress", args=[batch.pk])).json())
    monkeypatch.setitem(uploads.erp_import.__globals__, "_progress_save", watched)

    # when: operations upload a file above the size read in the request
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(UPLOAD, {"format": "0", "import_file": csv_upload(export()), "resource": ""})
    preview = ErpImport.objects.get()

    # then: the request only queued it and went to the batch's page; the worker read it, saving its progress
    assert len(queued) == 1
    assert response["Location"] == reverse("admin:erp_erpimport_preview", args=[preview.pk])
    reading = [s for s in seen if s["phase"] == "reading"]
    assert reading and not any(s["done"] for s in reading)
    assert [s["lines_read"] for s in reading] == sorted(s["lines_read"] for s in reading)
    assert 0 < reading[-1]["percent"] < 100
    # and the page is the preview: 3,000 orders, Confirm offered
    page = text(client.get(response["Location"]))
    assert preview.state == S.PREVIEWED and "Confirm and apply" in page and 'data-count="orphans">2998<' in page
    assert client.get(reverse("admin:erp_erpimport_progress", args=[preview.pk])).json()["done"] is True

    # when: they confirm, the worker applies it too, and the page follows it
    seen.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(UPLOAD, {"confirm": str(preview.pk)})
    batch = ErpImport.objects.exclude(pk=preview.pk).get()
    assert response["Location"] == reverse("admin:erp_erpimport_preview", args=[batch.pk])
    assert {s["phase"] for s in seen} == {"reading", "applying"}
    assert batch.state == S.APPLIED and (batch.new, batch.orphans) == (2, 2_998) and batch.percent == 100
    assert not batch.phase
    assert Order.objects.get(number="20000").state == "completed"
    assert ErpRecord.objects.count() == 3_000
    page = text(client.get(response["Location"]))
    assert "Applied 3000 orders." in page and "Confirm and apply" not in page


def test_a_queued_import_shows_its_progress_until_the_worker_takes_it(client, operations, store, large):
    client.force_login(operations)
    # when: the upload is queued, and no worker has taken it yet (the task is not run here)
    response = client.post(UPLOAD, {"format": "0", "import_file": csv_upload(export(100)), "resource": ""})
    batch = ErpImport.objects.get()
    # then: its page says it waits for the worker, and polls
    page = text(client.get(response["Location"]))
    assert batch.phase == "queued" and "Waiting for the worker" in page and "erp_progress.js" in page
    state = client.get(reverse("admin:erp_erpimport_progress", args=[batch.pk])).json()
    assert (state["done"], state["phase"], state["percent"]) == (False, "queued", 0)


def test_a_batch_whose_upload_is_gone_fails_in_a_sentence_when_the_worker_takes_it(
        client, operations, store, large, var_dir):
    from integrations.erp.tasks import import_erp_upload

    client.force_login(operations)
    client.post(UPLOAD, {"format": "0", "import_file": csv_upload(export(100)), "resource": ""})
    batch = ErpImport.objects.get()
    (var_dir / "erp-uploads" / batch.sha256).unlink()
    import_erp_upload(batch.pk)
    batch.refresh_from_db()
    assert (batch.state, batch.phase) == (S.FAILED, "")
    assert batch.message == "The uploaded file is no longer kept: upload it again."
    assert import_erp_upload(batch.pk) is None  # a second delivery of the message does nothing


def test_uploads_nobody_confirmed_are_deleted_after_a_day(var_dir):
    folder = uploads.upload_dir()
    old, young = folder / ("a" * 64), folder / ("b" * 64)
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    day_ago = time.time() - uploads.KEEP_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    assert uploads.uploads_clean() == 1
    assert not old.exists() and young.exists()


def test_operations_export_the_erp_records_through_the_export_form(client, operations, manager, store):
    client.force_login(operations)
    client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": "generic", "skip_invalid": "on"})
    client.post(UPLOAD, {"confirm": str(ErpImport.objects.get().pk)})
    export_url = reverse("admin:erp_erprecord_export")
    assert client.get(export_url).status_code == 200
    response = client.post(export_url, {"format": "0", "resource": "0"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("profile,erp_id,store_namespace,shop_order_number,raw_status")
    assert len(lines) == 3  # the two valid orders (both orphans: the shop reported neither)


def test_a_running_batch_opens_on_its_live_page_from_the_imports_list(client, operations, store, large):
    client.force_login(operations)
    client.post(UPLOAD, {"format": "0", "import_file": csv_upload(export(100)), "resource": ""})
    batch = ErpImport.objects.get()
    response = client.get(reverse("admin:erp_erpimport_change", args=[batch.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:erp_erpimport_preview", args=[batch.pk])
