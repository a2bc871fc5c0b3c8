"""python manage.py import_erp FILE [--profile] [--dry-run] [--skip-invalid]: which profile and why,
progress on a terminal, and the summary with the first row errors."""

import io

import pytest
from django.core.management import CommandError, call_command

from integrations.erp.management.commands import import_erp
from integrations.erp.models import ErpImport
from lifecycle.models import Order
from tests.integrations.erp.test_importing import shop_reports

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("import_erp", *map(str, args), stdout=out)
    return out.getvalue()


def test_a_dry_run_says_which_profile_and_why_and_what_applying_would_do(store, shared_fixture):
    shop_reports(store, 1042)

    out = run(shared_fixture("erp", "erpnext_sales_order_export.csv"), "--dry-run")

    assert "Profile: ERPNext Sales Order. Detected ERPNext Sales Order: the file has its columns" in out
    assert "previewed (nothing applied)" in out
    assert "1 new, 0 updated, 0 unchanged, 0 invalid, 3 orphans (8 lines, 4 orders)" in out
    assert "store: Main Shop (main)" in out
    assert Order.objects.get(number="1042").state == "paid"
    assert ErpImport.objects.get().actor_ref == "manage.py import_erp"


def test_a_chosen_profile_applies_and_lists_the_first_row_errors(store, tmp_path):
    shop_reports(store, 1042)
    path = tmp_path / "export.csv"
    path.write_text("Order Number,Status,Total,Currency,Modified At\r\n"
                    "1042,completed,29.35,USD,2025-12-05 12:00:00\r\n"
                    "1043,completed,lots,USD,2025-12-05 12:00:00\r\n")

    out = run(path, "--profile", "generic", "--skip-invalid")

    assert "Profile: Generic. Generic, as chosen." in out
    assert "ERP import #" in out and ": applied in " in out
    assert "1 new, 0 updated, 0 unchanged, 1 invalid, 0 orphans" in out
    assert "row errors (1):" in out and "line 3, Total = “lots”: " in out
    assert Order.objects.get(number="1042").state == "completed"


def test_a_rejected_file_fails_the_command_after_its_summary(store, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Order Number,Status,Total,Currency,Modified At\r\n1043,completed,lots,USD,2025-12-05\r\n")
    out = io.StringIO()

    with pytest.raises(CommandError, match="rejected: nothing was imported"):
        call_command("import_erp", str(path), stdout=out)

    assert "1 line is invalid, so nothing was imported" in out.getvalue()
    assert "line 2, Total = “lots”" in out.getvalue()


def test_a_terminal_sees_a_progress_line_every_few_thousand_lines(store, tmp_path, monkeypatch):
    monkeypatch.setattr(import_erp, "PRINT_EVERY", 2)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    path = tmp_path / "export.csv"
    path.write_text("Order Number,Status,Total,Currency,Modified At\r\n"
                    + "".join(f"{n},completed,1.00,USD,2025-12-05\r\n" for n in range(2500)))

    call_command("import_erp", str(path), "--dry-run", stdout=out)

    assert "\rreading: 1,000 lines" in out.getvalue() and "\rreading: 2,000 lines" in out.getvalue()
