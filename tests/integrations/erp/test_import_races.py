"""An import and the shop's deliveries naming the same orders at the same instant (PostgreSQL's real
row and advisory locks): each order either is found by the import or hears of its orphan when created,
never neither, and nothing deadlocks."""

import pytest

from integrations.erp import importing
from integrations.erp.models import ErpRecord
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order
from tests.concurrency import race
from tests.integrations.erp.test_importing import generic, import_file, shop_reports

NUMBERS = range(2000, 2060)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_racing_the_shop_leaves_no_orphan_behind(store, operations, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 5)
    export = generic(*(f"{n},shipped,29.35,USD,2025-12-05 12:00:00" for n in NUMBERS))
    ops = Actor.for_user(operations)

    def work(i):
        if i == 0:
            return import_file(export, ops, dry_run=False)
        return [shop_reports(store, n) for n in NUMBERS]  # a delivery (a transaction) each

    results, _ = race(2, work)

    assert not any(isinstance(r, Exception) or r is None for r in results), results
    assert results[0].new + results[0].orphans == len(NUMBERS)
    assert ErpRecord.objects.filter(order__isnull=False).count() == len(NUMBERS)
    assert set(Order.objects.values_list("state", flat=True)) == {"shipped"}
    assert not ExceptionCase.objects.filter(kind="state_mismatch", status__in=["open", "in_progress"]).exists()
