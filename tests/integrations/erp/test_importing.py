"""An ERP export brought in: each row sets the ERP's state of the shop's order it names, through the
domain's one path; a preview writes nothing; the same file, or an older one, changes nothing; rows
for orders the shop never reported wait as orphans; a file with invalid rows is rejected whole unless
the operator skips them."""

import io
from decimal import Decimal

import pytest

from integrations.erp import importing
from integrations.erp.importing import erp_import, errors_csv
from integrations.erp.models import ErpImport, ErpRecord, ErpSettings
from integrations.erp.status_mappings import erp_status_mapping_set
from integrations.woocommerce.intake import Item, orders_apply
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order, OrderSourceState, TimelineEvent
from lifecycle.services.errors import PermissionDenied
from lifecycle.values import Outcome
from tests.integrations.wc_fixtures import load

pytestmark = pytest.mark.django_db
S = ErpImport.State
GENERIC = "Order Number,Status,Total,Currency,Modified At"


@pytest.fixture
def ops(operations):
    return Actor.for_user(operations)


def shop_reports(store, number, status="processing", modified="2025-11-30T10:00:00"):
    """The shop's order `number`, as a webhook delivers it (WooCommerce's published order, renumbered)."""
    payload = load("order_retrieve_response.json")
    payload.update(id=number, number=str(number), status=status, date_modified_gmt=modified)
    assert orders_apply(store=store, items=[Item(payload, Actor.webhook(f"main/d-{number}"))]) == [Outcome.APPLIED]
    return Order.objects.get(namespace=store.slug, number=str(number))


def generic(*rows):
    return io.BytesIO(("\r\n".join([GENERIC, *rows]) + "\r\n").encode())


def import_file(source, actor, **options):
    if isinstance(source, io.BytesIO):
        return erp_import(source, filename="export.csv", actor=actor, **options)
    with open(source, "rb") as file:
        return erp_import(file, filename=source.rsplit("/", 1)[-1], actor=actor, **options)


def state(number):
    return Order.objects.get(number=str(number)).state


def erp_source(number):
    return OrderSourceState.objects.get(order__number=str(number), system="erp")


def counts(batch):
    return {name: getattr(batch, name) for name in ("new", "updated", "unchanged", "invalid", "orphans")}


def open_cases(kind):
    return ExceptionCase.objects.filter(kind=kind, status__in=["open", "in_progress"])


def test_an_erpnext_export_sets_the_erp_state_of_each_shop_order(store, ops, shared_fixture):
    # given: the shop's paid orders #1042 to #1045
    for number in (1042, 1043, 1044, 1045):
        shop_reports(store, number)

    # when: operations apply ERPNext's export
    batch = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)

    # then: each order took the ERP's word through the state graph; nothing disagrees
    assert batch.state == S.APPLIED, batch.message
    assert counts(batch) == {"new": 4, "updated": 0, "unchanged": 0, "invalid": 0, "orphans": 0}
    assert [state(n) for n in (1042, 1043, 1044, 1045)] == ["fulfilling", "completed", "delivered", "cancelled"]
    assert not open_cases("state_mismatch").exists() and not open_cases("unmapped_status").exists()
    # the ERP's raw word, its own total and the line that carried it are the order's ERP source state
    source = erp_source(1042)
    assert (source.raw_status, source.total, source.event_ref) == (
        "To Deliver and Bill|Not Delivered|Not Billed", Decimal("1165.25"), f"erp-import:{batch.pk}/2")
    assert Order.objects.get(number="1042").total == Decimal("29.35")  # the shop's amount stays the order's
    # the batch's provenance, and the ERP's record of each order, attached
    assert (batch.filename, batch.profile, batch.profile_detected, batch.orders_read, batch.lines_read) == (
        "erpnext_sales_order_export.csv", "erpnext", True, 4, 8)
    assert len(batch.sha256) == 64 and batch.duration is not None and batch.actor_ref == "ops"
    assert batch.created_by.username == "ops" and batch.store == store
    assert "Detected ERPNext Sales Order" in batch.profile_reason
    records = {r.shop_order_number: r for r in ErpRecord.objects.all()}
    assert {n: (r.erp_id, r.order.number, r.erp_import_id, r.line) for n, r in records.items()}["1044"] == (
        "SAL-ORD-2025-00003", "1044", batch.pk, 6)
    moved = TimelineEvent.objects.filter(kind="order_state_changed", source="erp")
    assert {e.actor_ref for e in moved} == {f"ERP import #{batch.pk}"}


def test_an_odoo_export_sets_the_erp_state_and_a_quotation_behind_the_shop_opens_nothing(store, ops,
                                                                                          shared_fixture):
    for number in (1042, 1043):
        shop_reports(store, number)

    batch = import_file(shared_fixture("erp", "odoo_sale_order_export.csv"), ops, dry_run=False)

    assert batch.state == S.APPLIED and batch.profile == "odoo"
    assert counts(batch)["new"] == 2
    # a confirmed sales order goes to the warehouse; the ERP's quotation for a paid order only lags
    assert (state(1042), state(1043)) == ("fulfilling", "paid")
    assert erp_source(1043).raw_status == "draft|no|"
    assert not open_cases("state_mismatch").exists()


def test_a_dry_run_counts_what_applying_would_do_and_writes_nothing_but_the_batch(store, ops, shared_fixture):
    shop_reports(store, 1042)
    shop_reports(store, 1043)
    before = (TimelineEvent.objects.count(), OrderSourceState.objects.count(), ExceptionCase.objects.count())

    preview = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops)

    assert preview.state == S.PREVIEWED and preview.dry_run
    assert counts(preview) == {"new": 2, "updated": 0, "unchanged": 0, "invalid": 0, "orphans": 2}
    assert (TimelineEvent.objects.count(), OrderSourceState.objects.count(), ExceptionCase.objects.count()) == before
    assert not ErpRecord.objects.exists() and state(1042) == "paid"

    applied = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)
    assert counts(applied) == counts(preview)


def test_the_same_file_again_changes_nothing_and_says_so(store, ops, shared_fixture):
    for number in (1042, 1043, 1044):
        shop_reports(store, number)
    first = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)
    events, cases = TimelineEvent.objects.count(), list(ExceptionCase.objects.values_list("pk", "occurrences"))

    again = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)

    assert again.state == S.APPLIED and again.duplicate_of == first
    assert counts(again) == {"new": 0, "updated": 0, "unchanged": 4, "invalid": 0, "orphans": 0}
    assert f"applied before, as ERP import #{first.pk}" in again.message
    assert TimelineEvent.objects.count() == events
    assert list(ExceptionCase.objects.values_list("pk", "occurrences")) == cases
    # its preview says so too
    assert "applying it again would change nothing" in import_file(
        shared_fixture("erp", "erpnext_sales_order_export.csv"), ops).message


def test_the_same_rows_in_another_file_are_unchanged_by_the_stale_rule(store, ops, shared_fixture):
    for number in (1042, 1043, 1044):
        shop_reports(store, number)
    import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)
    with open(shared_fixture("erp", "erpnext_sales_order_export.csv"), "rb") as file:
        resaved = io.BytesIO(file.read() + b"\r\n")  # another SHA-256, the same rows
    orphan_case = ExceptionCase.objects.get(kind="state_mismatch")

    batch = import_file(resaved, ops, dry_run=False)

    assert batch.duplicate_of is None
    assert counts(batch) == {"new": 0, "updated": 0, "unchanged": 3, "invalid": 0, "orphans": 1}
    orphan_case.refresh_from_db()
    assert orphan_case.occurrences == 1  # the orphan's record was not newer: not raised again


def test_an_older_file_after_a_newer_one_changes_nothing(store, ops):
    shop_reports(store, 1042)
    import_file(generic("1042,completed,29.35,USD,2025-12-05 12:00:00"), ops, dry_run=False)

    older = import_file(generic("1042,fulfilling,29.35,USD,2025-12-04 09:00:00"), ops, dry_run=False)

    assert counts(older) == {"new": 0, "updated": 0, "unchanged": 1, "invalid": 0, "orphans": 0}
    assert state(1042) == "completed" and erp_source(1042).raw_status == "completed"
    record = ErpRecord.objects.get()
    assert record.raw_status == "completed" and record.erp_import_id != older.pk


def test_an_orphan_waits_in_the_managers_queue_and_attaches_when_the_shop_reports_the_order(store, ops,
                                                                                           shared_fixture):
    # given: the shop has reported #1042 only
    shop_reports(store, 1042)

    batch = import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), ops, dry_run=False)

    # then: the three others are orphans, each an "ERP only" state_mismatch in the managers' queue
    assert counts(batch) == {"new": 1, "updated": 0, "unchanged": 0, "invalid": 0, "orphans": 3}
    assert set(ErpRecord.objects.filter(order__isnull=True).values_list("shop_order_number", flat=True)) == {
        "1043", "1044", "1045"}
    cases = open_cases("state_mismatch")
    assert cases.count() == 3 and {c.evidence["only"] for c in cases} == {"ERP only"}
    assert {c.queue_id for c in cases} == {None}
    case = cases.get(evidence__order__number="1043")
    assert case.summary == "Order #1043: ERP only, the shop has not reported it"

    # when: the shop reports #1043 later
    order = shop_reports(store, 1043)

    # then: the ERP's record attaches, the order takes the ERP's word, and the exception resolves itself
    record = ErpRecord.objects.get(shop_order_number="1043")
    assert record.order == order and state(1043) == "completed"
    assert erp_source(1043).event_ref == f"erp-import:{batch.pk}/5"
    case.refresh_from_db()
    assert case.status == "resolved" and case.resolution_reason.startswith("The shop reported order #1043")
    assert open_cases("state_mismatch").count() == 2


def test_an_erp_status_nobody_mapped_opens_unmapped_status_until_a_manager_maps_it(store, ops, manager):
    shop_reports(store, 1042)

    batch = import_file(generic("1042,awaiting pickup,29.35,USD,2025-12-05 12:00:00"), ops, dry_run=False)

    assert batch.state == S.APPLIED and state(1042) == "paid"
    [case] = open_cases("unmapped_status")
    assert case.subject_key == "erp:generic/status:awaiting pickup"
    assert erp_source(1042).raw_status == "awaiting pickup"

    moved = erp_status_mapping_set(profile="generic", raw_status="Awaiting Pickup", canonical="shipped",
                                   actor=Actor.for_user(manager))

    assert moved == 1 and state(1042) == "shipped"
    case.refresh_from_db()
    assert case.status == "resolved"
    assert import_file(generic("1042,awaiting pickup,29.35,USD,2025-12-06 12:00:00"), ops,
                       dry_run=False).updated == 1
    assert not open_cases("unmapped_status").exists()


BAD = ("1042,completed,29.35,USD,2025-12-05 12:00:00", "1043,completed,twelve,USD,2025-12-05 12:00:00",
       "1044,completed,10.00,USD,2025-12-05 12:00:00")


def test_a_file_with_invalid_rows_is_rejected_whole_with_its_errors_kept(store, ops):
    for number in (1042, 1044):
        shop_reports(store, number)

    batch = import_file(generic(*BAD), ops, dry_run=False)

    assert batch.state == S.REJECTED and "1 line is invalid, so nothing was imported" in batch.message
    assert counts(batch)["invalid"] == 1 and batch.orders_read == 2
    assert not OrderSourceState.objects.filter(system="erp").exists() and not ErpRecord.objects.exists()
    [error] = batch.errors.all()
    assert (error.line, error.column, error.value) == (3, "Total", "twelve")
    out = io.StringIO()
    errors_csv(batch, out)
    assert out.getvalue().splitlines()[0] == "line,column,value,error"
    assert out.getvalue().splitlines()[1].startswith("3,Total,twelve,")


def test_skipping_invalid_rows_applies_the_valid_ones_and_lists_the_others(store, ops):
    for number in (1042, 1044):
        shop_reports(store, number)

    batch = import_file(generic(*BAD), ops, dry_run=False, skip_invalid=True)

    assert batch.state == S.APPLIED and "1 line is invalid and skipped" in batch.message
    assert counts(batch) == {"new": 2, "updated": 0, "unchanged": 0, "invalid": 1, "orphans": 0}
    assert (state(1042), state(1044)) == ("completed", "completed")
    assert batch.errors.get().line == 3


@pytest.mark.parametrize("content, says", [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "This file is a PNG image, not a CSV file"),
    (b"Name,Colour\r\nAnna,blue\r\n", "match no ERP profile"),
])
def test_a_file_refused_whole_is_a_rejected_import_with_one_message(store, ops, content, says):
    batch = import_file(io.BytesIO(content), ops, dry_run=False)

    assert batch.state == S.REJECTED and says in batch.message
    assert not batch.errors.exists() and not ErpRecord.objects.exists()


def test_without_a_store_to_match_the_numbers_the_file_is_refused(ops):
    batch = import_file(generic(BAD[0]), ops, dry_run=False)
    assert batch.state == S.REJECTED and batch.message.startswith("No store is connected")


def test_the_profile_settings_name_the_columns_and_the_store(store, ops):
    shop_reports(store, 1042)
    ErpSettings.objects.create(profile="generic", column_overrides={"shop_order_number": "Shop Order"}, store=store)

    batch = import_file(io.BytesIO(b"Shop Order,Status,Total,Currency,Modified At\r\n"
                                   b"1042,shipped,29.35,USD,2025-12-05 12:00:00\r\n"), ops, dry_run=False)

    assert batch.state == S.APPLIED and state(1042) == "shipped"


def test_large_files_apply_in_chunks_with_progress(store, ops, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 2)
    monkeypatch.setattr(importing, "PROGRESS_LINES", 2)
    for number in range(1042, 1047):
        shop_reports(store, number)
    seen = []

    batch = import_file(generic(*(f"{n},completed,29.35,USD,2025-12-05 12:00:00" for n in range(1042, 1049))),
                        ops, dry_run=False, progress=lambda batch, phase, line: seen.append((phase, line)))

    assert counts(batch) == {"new": 5, "updated": 0, "unchanged": 0, "invalid": 0, "orphans": 2}
    assert {phase for phase, _ in seen} == {"reading", "applying"}
    assert all(state(n) == "completed" for n in range(1042, 1047))


def test_only_operations_import(store, support_agent):
    with pytest.raises(PermissionDenied):
        import_file(generic(BAD[0]), Actor.for_user(support_agent))


def test_an_unknown_profile_is_refused_with_the_ones_there_are(store, ops):
    batch = import_file(generic(BAD[0]), ops, profile="sap", dry_run=False)
    assert batch.state == S.REJECTED
    assert batch.message == "Unknown ERP profile “sap”: choose one of erpnext, odoo, generic."


def test_only_managers_map_erp_statuses(store, operations):
    with pytest.raises(PermissionDenied):
        erp_status_mapping_set(profile="generic", raw_status="awaiting pickup", canonical="shipped",
                               actor=Actor.for_user(operations))


def test_an_import_leaves_the_cycle_collector_as_it_found_it(store, ops):
    """Collections are fewer while an import runs (importing._fewer_collections), and as before after it,
    whether it applied or failed."""
    import gc

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    shop_reports(store, 1500)
    import_file(generic("1500,shipped,29.35,USD,2025-12-05 12:00:00"), ops, dry_run=False)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    with pytest.raises(ZeroDivisionError), importing._fewer_collections():
        assert gc.get_threshold()[0] >= importing.YOUNG_COLLECTION
        raise ZeroDivisionError
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
