"""The ERP drop folder: beat imports each finished file once (by hash) with the detected profile and
moves it to done/ or failed/; a failed file opens sync_failure with the reason; files being written,
hidden or temporary files and the subfolders are left alone; no folder set, nothing happens."""

import os
import time

import pytest
from django.conf import settings

from integrations.erp import drop
from integrations.erp.drop import drop_folder_import
from integrations.erp.models import ErpImport
from integrations.erp.tasks import import_erp_drop_folder
from lifecycle.models import ExceptionCase, Order
from tests.integrations.erp.test_importing import GENERIC, shop_reports

pytestmark = pytest.mark.django_db
S = ErpImport.State


def no_sleep(seconds):
    pass


def write(folder, name, *rows, age=60):
    """A finished export: written `age` seconds ago."""
    path = folder / name
    path.write_bytes(("\r\n".join([GENERIC, *rows]) + "\r\n").encode())
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def listing(folder, sub=""):
    return sorted(p.name for p in (folder / sub).iterdir() if p.is_file()) if (folder / sub).exists() else []


def sync_failures():
    return ExceptionCase.objects.filter(kind="sync_failure", subject_key__startswith="erp-drop:")


def test_a_new_file_is_applied_and_moved_to_done(store, tmp_path):
    shop_reports(store, 1042)
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")

    results = drop_folder_import(tmp_path, sleep=no_sleep)

    assert [(name, outcome) for name, outcome, _ in results] == [("orders.csv", "done")]
    assert listing(tmp_path) == [] and listing(tmp_path, "done") == ["orders.csv"]
    assert listing(tmp_path, "processing") == []
    batch = ErpImport.objects.get()
    assert (batch.state, batch.dry_run, batch.filename, batch.profile) == (S.APPLIED, False, "orders.csv", "generic")
    assert batch.actor_ref == "erp_drop_folder"
    assert Order.objects.get(number="1042").state == "completed"
    assert not sync_failures().exists()


def test_a_rejected_file_moves_to_failed_and_opens_sync_failure_until_a_file_of_that_name_applies(store, tmp_path):
    shop_reports(store, 1042)
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00",
          "1043,completed,not a number,USD,2025-12-05 12:00:00")

    results = drop_folder_import(tmp_path, sleep=no_sleep)

    assert [(name, outcome) for name, outcome, _ in results] == [("orders.csv", "failed")]
    assert listing(tmp_path) == [] and listing(tmp_path, "failed") == ["orders.csv"]
    batch = ErpImport.objects.get()
    assert batch.state == S.REJECTED
    assert Order.objects.get(number="1042").state == "paid"  # rejected whole: nothing applied
    case = sync_failures().get()
    assert case.subject_key == "erp-drop:orders.csv" and case.status == "open"
    assert "orders.csv was not imported" in case.summary and "1 line is invalid" in case.summary
    assert case.evidence["batch"] == batch.pk and case.evidence["moved_to"] == "failed/orders.csv"
    assert "invalid" in case.evidence["reason"]

    # a corrected file of the same name applies and resolves it
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    results = drop_folder_import(tmp_path, sleep=no_sleep)

    assert [(name, outcome) for name, outcome, _ in results] == [("orders.csv", "done")]
    case.refresh_from_db()
    assert case.status not in ("open", "in_progress")
    assert Order.objects.get(number="1042").state == "completed"


def test_a_file_that_is_no_csv_moves_to_failed_with_the_reason(store, tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    then = time.time() - 60
    os.utime(path, (then, then))

    [(name, outcome, message)] = drop_folder_import(tmp_path, sleep=no_sleep)

    assert (name, outcome) == ("photo.png", "failed") and listing(tmp_path, "failed") == ["photo.png"]
    assert ErpImport.objects.get().state == S.REJECTED
    assert sync_failures().get().evidence["reason"] in message


def test_the_same_file_dropped_again_is_not_applied_again_and_names_never_collide(store, tmp_path):
    shop_reports(store, 1042)
    rows = ("1042,completed,29.35,USD,2025-12-05 12:00:00",)
    write(tmp_path, "orders.csv", *rows)
    drop_folder_import(tmp_path, sleep=no_sleep)

    write(tmp_path, "orders.csv", *rows)
    [(name, outcome, message)] = drop_folder_import(tmp_path, sleep=no_sleep)

    assert (name, outcome) == ("orders.csv", "done")
    assert "This file was applied before, as ERP import #" in message and "changed nothing" in message
    assert listing(tmp_path, "done") == ["orders-1.csv", "orders.csv"]  # the first one is not overwritten
    first, second = ErpImport.objects.order_by("pk")
    assert second.duplicate_of_id == first.pk and second.new == second.updated == 0


def test_files_being_written_hidden_or_temporary_and_subfolders_are_left_alone(store, tmp_path):
    write(tmp_path, "fresh.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00", age=0)
    write(tmp_path, ".hidden.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    write(tmp_path, "export.csv.part", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    (tmp_path / "done").mkdir()
    write(tmp_path / "done", "old.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")

    assert drop_folder_import(tmp_path, sleep=no_sleep) == []
    assert listing(tmp_path) == [".hidden.csv", "export.csv.part", "fresh.csv"]
    assert listing(tmp_path, "done") == ["old.csv"]
    assert not ErpImport.objects.exists()


def test_a_file_whose_size_changes_between_two_looks_is_left_for_the_next_run(store, tmp_path):
    path = write(tmp_path, "growing.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")

    def more_arrives(seconds):
        with open(path, "ab") as file:
            file.write(b"1043,completed,10.00,USD,2025-12-05 12:00:00\r\n")

    assert drop_folder_import(tmp_path, sleep=more_arrives) == []
    assert listing(tmp_path) == ["growing.csv"] and not ErpImport.objects.exists()


def test_a_file_another_run_claimed_first_is_skipped(store, tmp_path, monkeypatch):
    # given: another beat run renames the file into processing/ between our look and our claim
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    claim = drop._claim

    def other_run_first(folder, name):
        assert claim(folder, name) is not None  # the other run wins the rename
        return claim(folder, name)

    monkeypatch.setattr(drop, "_claim", other_run_first)

    assert drop_folder_import(tmp_path, sleep=no_sleep) == []
    assert not ErpImport.objects.exists()


def test_no_folder_set_is_a_no_op_and_beat_runs_the_task_every_minute(store, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "ERP_DROP_DIR", None, raising=False)
    assert import_erp_drop_folder() == []
    assert drop_folder_import(tmp_path / "missing", sleep=no_sleep) == []

    monkeypatch.setattr(settings, "ERP_DROP_DIR", str(tmp_path))
    monkeypatch.setattr(drop, "SIZE_LOOK_SECONDS", 0)
    shop_reports(store, 1042)
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    assert import_erp_drop_folder() == [["orders.csv", "done"]]

    entry = settings.CELERY_BEAT_SCHEDULE["import-erp-drop-folder"]
    assert entry["task"] == "integrations.erp.tasks.import_erp_drop_folder" and entry["schedule"] == 60.0
    assert "integrations.erp.tasks" in settings.CELERY_IMPORTS


def test_with_skip_invalid_set_the_valid_rows_apply_and_the_invalid_ones_open_sync_failure(store, tmp_path, settings):
    settings.ERP_DROP_SKIP_INVALID = True
    shop_reports(store, 1042)
    write(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00",
          "1043,completed,not a number,USD,2025-12-05 12:00:00")

    [(name, outcome, _)] = drop_folder_import(tmp_path, sleep=no_sleep)

    # then: the file is done, its good row applied, its bad one kept on the batch and owned by someone
    assert (name, outcome) == ("orders.csv", "done") and listing(tmp_path, "done") == ["orders.csv"]
    batch = ErpImport.objects.get()
    assert (batch.state, batch.invalid) == (S.APPLIED, 1)
    assert Order.objects.get(number="1042").state == "completed"
    case = sync_failures().get()
    assert case.status == "open" and "applied without its 1 invalid rows" in case.summary
    assert case.evidence["moved_to"] == "done/orders.csv"


def claimed_by_a_run_that_died(folder, name, *rows, again=False):
    """A file a beat run renamed into processing/ and never finished (its worker killed mid-file)."""
    path = write(folder, name, *rows)
    (folder / "processing").mkdir(exist_ok=True)
    claimed = folder / "processing" / f"{'again-' if again else ''}0123456789ab-{name}"
    os.rename(path, claimed)
    ErpImport.objects.create(filename=name, actor_ref="erp_drop_folder", sha256="-", state=S.RUNNING,
                             phase="applying")
    return claimed


def test_a_file_a_dead_run_left_in_processing_is_imported_again_and_its_batch_marked_interrupted(store, tmp_path):
    shop_reports(store, 1042)
    claimed_by_a_run_that_died(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")

    # a run right after the claim leaves it: the claiming run may not hold its lock yet
    assert drop_folder_import(tmp_path, sleep=no_sleep) == []

    [(name, outcome, _)] = drop_folder_import(tmp_path, now=time.time() + 120, sleep=no_sleep)

    assert (name, outcome) == ("orders.csv", "done") and listing(tmp_path, "done") == ["orders.csv"]
    assert listing(tmp_path, "processing") == []
    interrupted, applied = ErpImport.objects.order_by("pk")
    assert interrupted.state == S.FAILED and "Interrupted" in interrupted.message
    assert applied.state == S.APPLIED and Order.objects.get(number="1042").state == "completed"


def test_a_file_a_live_run_holds_in_processing_is_left_alone(store, tmp_path):
    claimed = claimed_by_a_run_that_died(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00")
    held = drop._hold(claimed)  # the run importing it, alive
    try:
        assert drop_folder_import(tmp_path, now=time.time() + 120, sleep=no_sleep) == []
        assert listing(tmp_path, "processing") == [claimed.name]
        assert ErpImport.objects.get().state == S.RUNNING
    finally:
        held.close()


def test_a_file_left_twice_by_dead_runs_moves_to_failed_and_opens_sync_failure(store, tmp_path):
    claimed_by_a_run_that_died(tmp_path, "orders.csv", "1042,completed,29.35,USD,2025-12-05 12:00:00", again=True)

    [(name, outcome, message)] = drop_folder_import(tmp_path, now=time.time() + 120, sleep=no_sleep)

    assert (name, outcome) == ("orders.csv", "failed") and "interrupted twice" in message

    assert listing(tmp_path, "processing") == [] and listing(tmp_path, "failed") == ["orders.csv"]
    case = sync_failures().get()
    assert "interrupted twice" in case.summary and case.evidence["moved_to"] == "failed/orders.csv"
