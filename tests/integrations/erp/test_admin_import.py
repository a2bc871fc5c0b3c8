"""The ERP import in the admin: operations upload an export, see the preview (counts and every row
error with its line, column and value), confirm, and land on the applied batch; managers read the
batches but may not import; a file that is no CSV is refused in a sentence."""

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from console.admin import erp as erp_admin
from integrations.erp.models import ErpImport, ErpRecord, ErpSettings, ErpStatusMapping
from integrations.woocommerce.intake import Item, orders_apply
from lifecycle.actors import Actor
from lifecycle.models import Order
from lifecycle.values import Outcome
from tests.integrations.wc_fixtures import load

pytestmark = pytest.mark.django_db
S = ErpImport.State
UPLOAD = reverse("admin:erp_erpimport_upload")
ROWS = ("Order Number,Status,Total,Currency,Modified At", "1042,completed,29.35,USD,2025-12-05 12:00:00",
        "1043,completed,twelve,USD,2025-12-05 12:00:00", "1044,completed,10.00,USD,2025-12-05 12:00:00")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def shop_reports(store, number):
    payload = load("order_retrieve_response.json")
    payload.update(id=number, number=str(number), status="processing", date_modified_gmt="2025-11-30T10:00:00")
    assert orders_apply(store=store, items=[Item(payload, Actor.webhook(f"main/d-{number}"))]) == [Outcome.APPLIED]


def csv_upload(content=None, name="orders.csv"):
    content = content if content is not None else ("\r\n".join(ROWS) + "\r\n").encode()
    return SimpleUploadedFile(name, content, content_type="text/csv")


def text(response):
    return html.unescape(response.content.decode())


def test_operations_preview_an_export_with_a_bad_row_then_confirm_skipping_it(client, operations, store, var_dir):
    for number in (1042, 1044):
        shop_reports(store, number)
    client.force_login(operations)

    # the changelist links to the upload page, which has the form
    assert UPLOAD in client.get(reverse("admin:erp_erpimport_changelist")).content.decode()
    assert client.get(UPLOAD).status_code == 200

    # when: operations upload with "detect" and "skip invalid"
    response = client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": "", "skip_invalid": "on"})

    # then: the preview's page: the profile and why, the counts, the row error with line, column and value
    preview = ErpImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:erp_erpimport_preview",
                                                                           args=[preview.pk])
    page = text(client.get(response["Location"]))
    assert preview.state == S.PREVIEWED and preview.dry_run and preview.skip_invalid
    assert "Generic" in page and preview.profile_reason in page
    assert 'data-count="new">2<' in page and 'data-count="invalid">1<' in page
    assert "<td class=\"px-2 py-1\">3</td>" in page and ">Total<" in page and "<code>twelve</code>" in page
    assert reverse("admin:erp_erpimport_errors_download", args=[preview.pk]) in page
    kept = var_dir / "erp-uploads" / preview.sha256
    assert kept.exists()
    assert Order.objects.get(number="1042").state != "completed"  # nothing applied yet

    # when: they confirm
    response = client.post(UPLOAD, {"confirm": str(preview.pk)})

    # then: applied with the same options; the batch's page shows the applied counts; the upload is gone
    batch = ErpImport.objects.exclude(pk=preview.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:erp_erpimport_change",
                                                                           args=[batch.pk])
    assert batch.state == S.APPLIED and not batch.dry_run and batch.skip_invalid
    assert (batch.new, batch.invalid, batch.filename) == (2, 1, "orders.csv")
    assert Order.objects.get(number="1042").state == "completed"
    assert not kept.exists()
    page = text(client.get(response["Location"]))
    assert "Applied 2 orders. 1 line is invalid and skipped." in page and "<code>twelve</code>" in page
    assert preview.sha256 in page

    # and the errors download as CSV
    download = client.get(reverse("admin:erp_erpimport_errors_download", args=[batch.pk]))
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert download.content.decode().splitlines()[1].startswith("3,Total,twelve,")


def test_a_preview_without_skip_invalid_offers_no_confirmation(client, operations, store):
    client.force_login(operations)
    page = text(client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": "generic"}, follow=True))
    assert "applying would reject the whole file" in page and "Confirm and apply" not in page


def test_a_manager_reads_the_imports_but_may_not_upload(client, manager, operations, store):
    client.force_login(operations)
    client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": ""})
    batch = ErpImport.objects.get()

    client.force_login(manager)
    assert client.get(reverse("admin:erp_erpimport_changelist")).status_code == 200
    assert client.get(reverse("admin:erp_erpimport_change", args=[batch.pk])).status_code == 200
    assert UPLOAD not in client.get(reverse("admin:erp_erpimport_changelist")).content.decode()
    assert client.get(UPLOAD).status_code == 403
    assert client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": ""}).status_code == 403
    assert client.post(UPLOAD, {"confirm": str(batch.pk)}).status_code == 403
    assert ErpImport.objects.count() == 1


def test_a_file_that_is_no_csv_is_refused_in_a_sentence(client, operations, store, var_dir):
    client.force_login(operations)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    page = text(client.post(UPLOAD, {"format": "0", "import_file": csv_upload(png, "photo.png"), "resource": ""},
                            follow=True))
    assert "This file is a PNG image, not a CSV file" in page
    assert ErpImport.objects.get().state == S.REJECTED and "Confirm and apply" not in page
    assert not list((var_dir / "erp-uploads").iterdir())  # nothing to confirm: not kept


def test_a_confirmation_whose_file_is_gone_asks_for_it_again(client, operations, store, var_dir):
    client.force_login(operations)
    client.post(UPLOAD, {"format": "0", "import_file": csv_upload(), "resource": "", "skip_invalid": "on"})
    preview = ErpImport.objects.get()
    (var_dir / "erp-uploads" / preview.sha256).unlink()
    response = client.post(UPLOAD, {"confirm": str(preview.pk)}, follow=True)
    assert "upload it again" in text(response) and ErpImport.objects.count() == 1


def test_the_erp_admins_are_registered_and_read(client, manager, operations):
    from django.contrib import admin
    from simple_history.admin import SimpleHistoryAdmin

    for model in (ErpSettings, ErpStatusMapping):
        assert isinstance(admin.site._registry[model], SimpleHistoryAdmin)
    assert admin.site._registry[ErpRecord].list_filter[0] is erp_admin.OrphanFilter
    client.force_login(operations)
    assert client.get(reverse("admin:erp_erprecord_changelist") + "?orphan=yes").status_code == 200
    assert client.get(reverse("admin:erp_erpsettings_changelist")).status_code == 200
    client.force_login(manager)
    assert client.get(reverse("admin:erp_erpstatusmapping_add")).status_code == 200


def test_a_manager_maps_an_erp_status_in_the_admin_through_the_service(client, manager, operations):
    # when: a manager maps a status nobody mapped for the generic profile
    client.force_login(manager)
    response = client.post(reverse("admin:erp_erpstatusmapping_add"),
                           {"profile": "generic", "raw_status": "Dispatched", "canonical": "shipped"})
    # then: saved (through erp_status_mapping_set: the status as the service keys it), with history,
    # and the admin lands on the list; nobody may delete it, and operations may not add one
    assert response.status_code == 302, response.content.decode()[:500]
    mapping = ErpStatusMapping.objects.get(profile="generic", canonical="shipped")
    assert mapping.history.count() == 1
    client.force_login(operations)
    assert client.get(reverse("admin:erp_erpstatusmapping_add")).status_code == 403
    assert client.get(reverse("admin:erp_erpstatusmapping_delete", args=[mapping.pk])).status_code == 403
