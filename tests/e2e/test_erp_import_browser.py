"""The ERP import in a browser: operations upload an export with a bad row, see the preview with the
row error (line, column, value), confirm with "skip invalid", and the agent's customer screen shows
the ERP's state and the import that carried it. Screenshots land in var/test-artifacts/."""

import pytest

from integrations.erp.models import ErpImport
from integrations.stores import store_connect
from lifecycle.actors import Actor
from lifecycle.models import Order
from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import make_agent, make_user
from tests.integrations.erp.test_admin_import import shop_reports

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EXPORT = ("Order Number,Status,Total,Currency,Modified At\r\n"
          "1042,shipped,29.35,USD,2025-12-05 12:00:00\r\n"
          "1043,shipped,twelve,USD,2025-12-05 12:00:00\r\n")


def test_operations_import_an_erp_export_and_the_agent_sees_the_erp_state(page, login, artifacts, tmp_path,
                                                                         settings):
    # Given the shop's paid order 1042, owned by Sam in Success, and an ERP export with one bad row
    settings.VAR_DIR = tmp_path
    sam = make_agent(make_user("sam", group="Support agent", first_name="Sam", last_name="Rivera"),
                     teams=["success"])
    store = store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret="whsec", actor=Actor.system("tests"))
    shop_reports(store, 1042)
    order = Order.objects.select_related("customer__ownership").get(number="1042")
    assert order.state == "paid" and order.customer.ownership.agent == sam
    make_user("olu", group="Operations", first_name="Olu", last_name="Adeyemi")
    export = tmp_path / "sales-orders-week-49.csv"
    export.write_bytes(EXPORT.encode())

    # When operations upload it, detecting the profile and skipping invalid rows
    login("olu")
    page.goto("/admin/erp/erpimport/upload/")
    page.set_input_files("input[type=file]", str(export))
    page.locator("input[name=skip_invalid]").check()
    page.locator("form button[type=submit]").last.click()

    # Then the preview says which profile and why, and shows the bad row's line, column and value
    expect(page.locator("body")).to_contain_text("Preview of sales-orders-week-49.csv")
    expect(page.locator("body")).to_contain_text("Detected Generic")
    error = page.locator("tr", has_text="twelve")
    expect(error).to_contain_text("3")
    expect(error).to_contain_text("Total")
    page.screenshot(path=str(artifacts / "erp-import-preview.png"), full_page=True)
    assert Order.objects.get(pk=order.pk).state == "paid", "nothing applied before the confirmation"

    # When they confirm
    page.get_by_role("button", name="Confirm and apply").click()

    # Then the batch page says what was applied, and the order moved through the same state graph
    expect(page.locator("body")).to_contain_text("Applied 1 order. 1 line is invalid and skipped.")
    batch = ErpImport.objects.get(state=ErpImport.State.APPLIED)
    page.screenshot(path=str(artifacts / "erp-import-applied.png"), full_page=True)
    assert Order.objects.get(pk=order.pk).state == "shipped"

    # And Sam's screen of that customer shows the ERP's word and the import line that carried it
    page.context.clear_cookies()
    login("sam")
    page.goto(f"/console/customers/{order.customer_id}/")
    row = page.locator("section#orders tr", has_text="#1042")
    expect(row).to_contain_text("Shipped")
    expect(row.locator("[data-carried-by]")).to_contain_text("sales-orders-week-49.csv, line 2")
    expect(row).not_to_contain_text("disagree")  # the shop's paid beside the ERP's shipped agree
    page.screenshot(path=str(artifacts / "erp-customer-screen.png"), full_page=True)
    assert batch.created_by.username == "olu"


def test_a_large_upload_shows_the_worker_reading_it_and_then_the_preview(page, login, artifacts, tmp_path, settings,
                                                                         monkeypatch):
    # Given a store and an export above the size read in the request (lowered here so the file stays small)
    from integrations.erp import uploads
    from integrations.erp.tasks import import_erp_upload

    monkeypatch.setattr(uploads, "BACKGROUND_BYTES", 1024)
    settings.VAR_DIR = tmp_path
    store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                  consumer_secret="cs", webhook_secret="whsec", actor=Actor.system("tests"))
    make_user("olu", group="Operations", first_name="Olu", last_name="Adeyemi")
    export = tmp_path / "sales-orders-december.csv"
    rows = [f"{n},shipped,10.00,USD,2025-12-05 12:00:00" for n in range(5000, 5300)]
    export.write_bytes(("Order Number,Status,Total,Currency,Modified At\r\n" + "\r\n".join(rows) + "\r\n").encode())

    # When operations upload it
    login("olu")
    page.goto("/admin/erp/erpimport/upload/")
    page.screenshot(path=str(artifacts / "erp-import-upload-form.png"), full_page=True)
    page.set_input_files("input[type=file]", str(export))
    page.locator("form button[type=submit]").last.click()

    # Then its page says it waits for the worker (no worker runs in this test yet)
    expect(page.locator("[data-erp-progress]")).to_contain_text("Waiting for the worker")
    page.screenshot(path=str(artifacts / "erp-import-queued.png"), full_page=True)

    # When the worker reads it, the page (polling) turns into the preview by itself
    import_erp_upload(ErpImport.objects.get().pk)
    expect(page.locator("[data-erp-message]")).to_contain_text("Nothing is applied until the import is confirmed",
                                                               timeout=10_000)
    expect(page.locator('[data-count="orphans"]')).to_have_text("300")
    expect(page.get_by_role("button", name="Confirm and apply")).to_be_visible()
    page.screenshot(path=str(artifacts / "erp-import-background-preview.png"), full_page=True)
