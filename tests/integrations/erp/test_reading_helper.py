"""A large export's first pass is shared with a helper process (integrations/erp/helper.py): the
importing process splits the file into orders and checks some, the helper folds and checks the rest.
What the two find together is what one reader finds alone: the same valid orders in file order, the
same row errors with their lines, the same counts; and a helper that dies fails the import before
anything is applied."""

import io
import os
import signal

import pytest

from integrations.erp import helper
from integrations.erp.checked import CheckedOrders
from integrations.erp.errors import RowError
from integrations.erp.models import ErpImport
from integrations.erp.reader import OrderReader, read_orders
from lifecycle.actors import Actor
from lifecycle.models import Order, OrderSourceState
from tests.integrations.erp.test_importing import counts, generic, import_file, shop_reports

# ERPNext's Data Export, as tests/fixtures/erp/erpnext_sales_order_export.csv writes it.
ERPNEXT = ('"ID","Customer\'s Purchase Order","Contact Email","Currency","Grand Total","Status","Delivery Status",'
           '"Billing Status","Last Updated On","Item Code (Items)","Quantity (Items)"')


@pytest.fixture
def helped(monkeypatch, tmp_path):
    """The helper from the third order on, handed two at a time; returns the pids that folded orders."""
    monkeypatch.setattr(helper, "HELPER_FROM", 2)
    monkeypatch.setattr(helper, "WINDOW", 2)
    pids = tmp_path / "pids"
    work = helper._work

    def spied(*args):
        with open(pids, "a") as file:
            file.write(f"{os.getpid()}\n")
        return work(*args)

    monkeypatch.setattr(helper, "_work", spied)
    return lambda: set(pids.read_text().split()) if pids.exists() else set()


def erpnext_export(orders=40):
    """Orders over one to three rows (line rows empty or repeating their order's columns), with bad
    values, a line row that contradicts its order, and order values without an id, spread through."""
    lines = [ERPNEXT]
    for i in range(orders):
        total = "twelve" if i % 7 == 3 else f"{10 + i}.50"
        lines.append(f'"SAL-ORD-{i:05d}","{5000 + i}","c{i}@example.com","EUR",{total},"To Deliver and Bill",'
                     f'"Not Delivered","Not Billed","2025-12-0{1 + i % 5} 10:00:00","MUG",1.0')
        if i % 3 == 0:
            lines.append('"","","","","","","","","","SAUCER",2.0')
        if i % 4 == 1:
            currency = "USD" if i % 8 == 5 else "EUR"  # a line row saying another currency: a row error
            lines.append(f'"SAL-ORD-{i:05d}","{5000 + i}","c{i}@example.com","{currency}",{10 + i}.50,'
                         f'"To Deliver and Bill","Not Delivered","Not Billed","2025-12-0{1 + i % 5} 10:00:00",'
                         '"CUP",1.0')
        if i == 20:
            lines.append('"","6020","","EUR",9.00,"Completed","","","","PLATE",1.0')  # order values, no id
    return ("\r\n".join(lines) + "\r\n").encode()


def _read(content, shared):
    """(row errors, valid orders as kept for the apply, orders read, last line) of one reading."""
    reading = read_orders(io.BytesIO(content), profile="erpnext")
    kept, errors, orders, last = CheckedOrders(1000), [], 0, 0
    for item in helper.read_shared(reading, 1000) if shared else reading:
        if isinstance(item, RowError):
            errors.append(item)
            last = max(last, item.line)
        elif isinstance(item, helper.HelperShare):
            errors += item.errors
            orders, last = orders + item.orders, max(last, item.last_line)
            kept.adopt(item.kept)
        else:
            kept.add(item)
            orders, last = orders + 1, max(last, item.line + item.rows - 1)
    return sorted(errors, key=lambda error: error.line), [o for chunk in kept.chunks() for o in chunk], orders, last


def test_the_helper_and_the_importing_process_find_what_one_reader_finds(helped):
    content = erpnext_export()

    alone = _read(content, shared=False)
    together = _read(content, shared=True)

    # a helper (another process) read part of the file, and together they found exactly what one did
    assert helped() and str(os.getpid()) not in helped()
    assert together == alone
    errors, kept, orders, _ = alone
    assert len(kept) == orders == 40 - 6 - 5  # six bad totals, five line rows contradicting their order
    assert [o.line for o in kept] == sorted(o.line for o in kept)  # in file order
    assert {e.message.split(" ")[0] for e in errors} >= {"“twelve”", "Differs", "This"}


@pytest.mark.django_db
def test_a_shared_first_pass_imports_as_one_reader_would(store, operations, helped):
    # given: the shop's orders, and an export of them with two bad lines, one in each process's share
    numbers = range(7000, 7012)
    for number in numbers:
        shop_reports(store, number)
    rows = [f"{n},completed,{'twelve' if n in (7001, 7009) else '29.35'},USD,2025-12-05 12:00:00" for n in numbers]

    # when: operations apply it, skipping the invalid rows
    batch = import_file(generic(*rows), Actor.for_user(operations), dry_run=False, skip_invalid=True)

    # then: a helper read part of it; the counts, the errors and the orders are one reader's
    assert helped()
    assert batch.state == ErpImport.State.APPLIED, batch.message
    assert counts(batch) == {"new": 10, "updated": 0, "unchanged": 0, "invalid": 2, "orphans": 0}
    assert (batch.orders_read, batch.lines_read) == (10, 13)
    assert list(batch.errors.values_list("line", "column", "value")) == [(3, "Total", "twelve"),
                                                                         (11, "Total", "twelve")]
    assert set(Order.objects.filter(number__in=["7001", "7009"]).values_list("state", flat=True)) == {"paid"}
    assert Order.objects.filter(state="completed").count() == 10


@pytest.mark.django_db
def test_a_helper_that_dies_fails_the_import_before_anything_is_applied(store, operations, helped, monkeypatch):
    numbers = range(7100, 7110)
    for number in numbers:
        shop_reports(store, number)
    importing_pid, items = os.getpid(), OrderReader.order_items

    def dying(self, rows):
        if os.getpid() != importing_pid:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        return items(self, rows)

    monkeypatch.setattr(OrderReader, "order_items", dying)
    rows = [f"{n},completed,29.35,USD,2025-12-05 12:00:00" for n in numbers]

    with pytest.raises(helper.ReaderDied, match="ended without finishing [(]exit code -9[)]"):
        import_file(generic(*rows), Actor.for_user(operations), dry_run=False)

    batch = ErpImport.objects.get()
    assert batch.state == ErpImport.State.FAILED
    assert "nothing was applied. Importing the file again starts over." in batch.message
    assert not OrderSourceState.objects.filter(system="erp").exists()


@pytest.mark.django_db
def test_a_file_unreadable_further_on_keeps_the_row_errors_both_found_before(store, operations, helped,
                                                                              monkeypatch):
    # given: a long export with bad totals throughout, and binary data at its end (a 64 kB read further on)
    content = erpnext_export(orders=400) + b"\x00" * 16

    # when: it is imported with the helper, and again by one reader
    shared = import_file(io.BytesIO(content), Actor.for_user(operations), dry_run=False)
    monkeypatch.setattr(helper, "HELPER_FROM", 10**9)
    alone = import_file(io.BytesIO(content), Actor.for_user(operations), dry_run=False)

    # then: refused whole, saying why, with the same row errors listed: the helper's share's too
    assert helped() and shared.state == alone.state == ErpImport.State.REJECTED
    assert "binary data (NUL bytes) after its start" in shared.message and shared.message == alone.message
    listed = [list(batch.errors.values_list("line", "column", "value", "message")) for batch in (shared, alone)]
    assert listed[0] == listed[1] and len({line for line, *_ in listed[0]}) > 50
