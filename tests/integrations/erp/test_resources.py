"""The profiles as django-import-export resources: importing an export row by row with one gives what
the streamed importer gives (the same checks, the same one path into the domain), and a bad value is
the row's validation error naming the file's column. The ERP's records export through Unfold's form."""

import csv
import io

import pytest
import tablib
from django.db import transaction

from integrations.erp.models import ErpRecord
from integrations.erp.resources import (
    ErpRecordResource,
    profile_resource,
    profile_resources,
)
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, OrderSourceState
from tests.integrations.erp.test_importing import import_file, shop_reports

pytestmark = pytest.mark.django_db


def one_row_per_order(path):
    """The published-layout ERPNext export without its line rows: one order per row."""
    with open(path, newline="", encoding="utf-8") as file:
        rows = [row for row in csv.reader(file)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([rows[0], *(row for row in rows[1:] if row[0])])
    return out.getvalue()


def outcome():
    """What an import left: each ERP source state with its order's state, each record, the orphans' mismatches."""
    states = sorted(OrderSourceState.objects.filter(system="erp").values_list(
        "order__number", "raw_status", "order__state", "observed_at"))
    records = sorted(ErpRecord.objects.values_list("erp_id", "shop_order_number", "raw_status", "total",
                                                   "currency", "observed_at", "order__number"))
    mismatches = sorted(ExceptionCase.objects.filter(kind="state_mismatch").values_list("subject_key", "status"))
    return states, records, mismatches


class Rollback(Exception):
    pass


def test_a_profile_resource_imports_row_by_row_what_the_streamed_importer_imports(store, operations, shared_fixture):
    # given: the shop reported three of the export's orders; the fourth is the ERP's alone
    for number in (1042, 1043, 1044):
        shop_reports(store, number)
    text = one_row_per_order(shared_fixture("erp", "erpnext_sales_order_export.csv"))

    # when: the streamed importer applies it (then everything is rolled back) ...
    try:
        with transaction.atomic():
            batch = import_file(io.BytesIO(text.encode()), Actor.for_user(operations), dry_run=False)
            assert batch.state == "applied", batch.message
            streamed = outcome()
            raise Rollback
    except Rollback:
        pass
    # ... and django-import-export imports it row by row with the ERPNext resource
    resource = profile_resource("erpnext")()
    resource.store_slug = store.slug
    result = resource.import_data(tablib.Dataset().load(text, format="csv"), dry_run=False, raise_errors=True)

    # then: both leave the same ERP states, records and mismatches
    assert not result.has_validation_errors() and result.totals["new"] == 4
    assert outcome() == streamed
    states, records, mismatches = streamed
    assert len(states) == 3 and len(records) == 4 and mismatches


def test_a_bad_value_is_that_rows_validation_error_naming_the_column(store, shared_fixture):
    text = one_row_per_order(shared_fixture("erp", "erpnext_sales_order_export.csv")).replace("1165.25", "twelve")
    resource = profile_resource("erpnext")()
    resource.store_slug = store.slug

    result = resource.import_data(tablib.Dataset().load(text, format="csv"), dry_run=True)

    [invalid] = result.invalid_rows
    assert invalid.number == 1 and set(invalid.error_dict) == {"Grand Total"}
    assert "twelve" in invalid.error_dict["Grand Total"][0]
    assert result.totals["new"] == 3  # its neighbours are fine
    assert not ErpRecord.objects.exists()  # a dry run writes nothing


def test_the_import_form_lists_the_profiles_by_name():
    assert [r.get_display_name() for r in profile_resources()] == ["ERPNext Sales Order", "Odoo sale.order",
                                                                   "Generic"]


def test_the_records_export_names_the_shop_order_or_leaves_an_orphan_empty(store, operations, shared_fixture):
    shop_reports(store, 1042)
    import_file(shared_fixture("erp", "erpnext_sales_order_export.csv"), Actor.for_user(operations), dry_run=False,
                skip_invalid=True)
    data = ErpRecordResource().export()
    rows = {row["erp_id"]: row for row in data.dict}
    assert rows["SAL-ORD-2025-00001"]["console order"] == "1042"
    assert rows["SAL-ORD-2025-00004"]["console order"] == ""  # the shop never reported #1045
    assert data.headers[:3] == ["profile", "erp_id", "store_namespace"]
