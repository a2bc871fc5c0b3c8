"""A large export is applied by two appliers side by side (PostgreSQL, each a process with its own
connection): the orders, records and counts end as one applier leaves them, each order's rows still
apply in file order, and one applier failing (or dying) fails the import without leaving the other
waiting."""

import os
import signal

import pytest

from integrations.erp import applying, importing
from integrations.erp.models import ErpImport, ErpRecord
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order
from tests.integrations.erp.test_importing import counts, generic, import_file, shop_reports

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NUMBERS = range(3000, 3024)
ORPHANS = range(9000, 9003)


@pytest.fixture
def side_by_side(monkeypatch, tmp_path):
    """Chunks of 3 orders, and appliers side by side from the first: returns the processes that
    applied them (read from the file each writes its id to as it applies a chunk)."""
    monkeypatch.setattr(importing, "CHUNK", 3)
    monkeypatch.setattr(importing, "PROGRESS_LINES", 2)
    monkeypatch.setattr(applying, "SIDE_BY_SIDE_FROM", 1)
    appliers = tmp_path / "appliers"
    chunk_apply = applying.chunk_apply

    def spied(run, orders):
        with open(appliers, "a") as file:
            file.write(f"{os.getpid()}\n")
        return chunk_apply(run, orders)

    monkeypatch.setattr(applying, "chunk_apply", spied)
    return lambda: set(appliers.read_text().split()) if appliers.exists() else set()


def export():
    rows = [f"{n},shipped,29.35,USD,2025-12-05 12:00:00" for n in NUMBERS]
    rows += [f"{n},shipped,29.35,USD,2025-12-05 12:00:00" for n in ORPHANS]
    # the ERP's later word on the first order, further down the file: it must apply after the first
    rows.append(f"{NUMBERS[0]},delivered,29.35,USD,2025-12-05 13:00:00")
    return generic(*rows)


def test_side_by_side_appliers_end_as_one_applier_would(store, operations, side_by_side):
    # given: the shop's paid orders
    for number in NUMBERS:
        shop_reports(store, number)

    # when: operations apply an export of them, three orders the shop never reported, and a later row
    heard = []
    batch = import_file(export(), Actor.for_user(operations), dry_run=False,
                        progress=lambda batch, phase, line: heard.append((phase, line)))

    # then: two appliers did it, processes of their own, and every order took the ERP's last word
    assert len(side_by_side()) == applying.WORKERS and str(os.getpid()) not in side_by_side()
    assert batch.state == ErpImport.State.APPLIED, batch.message
    assert counts(batch) == {"new": len(NUMBERS), "updated": 1, "unchanged": 0, "invalid": 0,
                             "orphans": len(ORPHANS)}
    assert Order.objects.get(number=str(NUMBERS[0])).state == "delivered"
    assert set(Order.objects.exclude(number=str(NUMBERS[0])).values_list("state", flat=True)) == {"shipped"}
    # each order's record is attached to it and names the line that carried its last word
    first = ErpRecord.objects.get(shop_order_number=str(NUMBERS[0]))
    assert (first.raw_status, first.line) == ("delivered", len(NUMBERS) + len(ORPHANS) + 2)
    assert ErpRecord.objects.filter(order__isnull=False).count() == len(NUMBERS)
    assert ExceptionCase.objects.filter(kind="state_mismatch", subject_key__contains="erp-only").count() == len(ORPHANS)
    # how far the apply is was heard as the appliers committed, never going back
    applied_to = [line for phase, line in heard if phase == "applying"]
    assert len(applied_to) >= 3 and applied_to == sorted(applied_to) and applied_to[-1] >= len(NUMBERS)
    # the counts each applier added as it committed are the batch's
    saved = ErpImport.objects.get(pk=batch.pk)
    assert counts(saved) == counts(batch) and saved.orders_read == batch.orders_read == len(NUMBERS) + len(ORPHANS) + 1


def _when_applying_the_sixth_order(monkeypatch, happens):
    """The applier handed the sixth order: `happens()` to it before it applies that chunk."""
    spied = applying.chunk_apply

    def failing(run, orders):
        if any(order.shop_order_number == str(NUMBERS[5]) for order in orders):
            happens()
        return spied(run, orders)

    monkeypatch.setattr(applying, "chunk_apply", failing)


def _database_goes_away():
    raise RuntimeError("the database went away")


def _killed():
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would


@pytest.mark.parametrize(("happens", "error", "says"), [
    (_database_goes_away, RuntimeError, "the database went away"),
    (_killed, applying.ApplierDied, "ended without finishing [(]exit code -9[)]"),
], ids=["error", "killed"])
def test_an_applier_failing_fails_the_import_and_the_other_stops(store, operations, side_by_side, monkeypatch,
                                                                 happens, error, says):
    for number in NUMBERS:
        shop_reports(store, number)
    _when_applying_the_sixth_order(monkeypatch, happens)

    with pytest.raises(error, match=says):
        import_file(export(), Actor.for_user(operations), dry_run=False)

    batch = ErpImport.objects.get()
    assert batch.state == ErpImport.State.FAILED and "Importing the file again applies the rest" in batch.message
    assert Order.objects.get(number=str(NUMBERS[5])).state == "paid"
