"""What an import stores is what reconciliation compares: the ERP's raw status (its meaning from the
ERP's mapping, registered by the integration) and its own total, beside the shop's."""

import pytest

from integrations.erp import status_mappings
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ReconcileWatermark
from lifecycle.services import reconcile as engine
from tests.api.conftest import token_client
from tests.integrations.erp.test_importing import import_file, shop_reports

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def erp_meanings():
    # The engine's own tests register a mapping of their own for "erp" and take it away after.
    engine.status_meanings_register("erp", status_mappings.status_meanings, cached=status_mappings.status_meanings_cached)


def test_an_imported_disagreement_is_found_by_reconciliation(store, operations, shared_fixture):
    # given: the shop still processes #1042 and #1045; the ERP delivers #1042 and cancelled #1045
    for number in (1042, 1045):
        shop_reports(store, number)
    import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), Actor.for_user(operations), dry_run=False)

    # when: reconciliation compares them
    run = engine.reconcile(full=True, actor=Actor.task("reconcile_orders"))

    # then: the cancelled one disagrees on its state, with the ERP's raw word, its meaning and its own
    # total; the one being delivered agrees on its state, but not on its amount (the ERP's 1,165.25)
    assert run.opened == 2
    cancelled = ExceptionCase.objects.get(kind="state_mismatch", order__number="1045").evidence
    erp = cancelled["systems"]["erp"]
    assert (erp["raw"], erp["canonical"], erp["total"]) == ("Cancelled|Not Delivered|Not Billed", "cancelled", "19.00")
    delivering = ExceptionCase.objects.get(kind="state_mismatch", order__number="1042").evidence
    assert delivering["systems"]["erp"]["canonical"] == "fulfilling"
    assert [rule["sentence"] for rule in delivering["rules"]] == [
        rule.sentence for rule in engine.active_rules() if rule.condition == "amounts"]


def test_the_api_gives_the_erp_source_with_its_raw_status_and_meaning(store, operations, manager, shared_fixture):
    # given: the shop processes #1045 and the ERP's export cancelled it
    order = shop_reports(store, 1045)
    import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), Actor.for_user(operations), dry_run=False)

    # when: a helpdesk reads the customer through the API
    response = token_client(manager).get(f"/api/v1/customers/{order.customer_id}/")

    # then: the order's sources are the shop's and the ERP's, each with its raw word and what it means
    assert response.status_code == 200, response.content
    [api_order] = [o for o in response.json()["orders"] if o["number"] == "1045"]
    sources = {s["system"]: (s["status"], s["means"]) for s in api_order["sources"]}
    assert sources == {"woocommerce": ("processing", "paid"),
                       "erp": ("Cancelled|Not Delivered|Not Billed", "cancelled")}


def test_an_applied_import_has_reconciliation_compare_at_once_and_a_preview_does_not(
        store, operations, shared_fixture, eager_tasks, django_capture_on_commit_callbacks):
    # given: the shop still processes #1045; the ERP's export cancelled it
    shop_reports(store, 1045)
    export = shared_fixture("erp", "erpnext_sales_order_export.csv")

    # when: operations preview the export, nothing is compared yet
    with django_capture_on_commit_callbacks(execute=True):
        import_file(export, Actor.for_user(operations))
    assert not ReconcileWatermark.objects.filter(last_run_at__isnull=False).exists()

    # when: they apply it (tasks run as they would on the worker, after the import commits)
    with django_capture_on_commit_callbacks(execute=True):
        import_file(export, Actor.for_user(operations), dry_run=False)

    # then: reconciliation ran without waiting for its beat, and the cancellation is an owned mismatch
    assert ReconcileWatermark.objects.get().last_run_at is not None
    mismatch = ExceptionCase.objects.get(kind="state_mismatch", order__number="1045")
    assert [rule["sentence"] for rule in mismatch.evidence["rules"]]
