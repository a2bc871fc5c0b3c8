"""Profiles: which ERP wrote a header row, the columns each reads, and the raw status each builds."""

import csv

import pytest

from integrations.erp.errors import ColumnsError
from integrations.erp.profiles import ERPNEXT, GENERIC, ODOO, detect_profile, get_profile, match_columns


def headers_of(path):
    with open(path, newline="", encoding="utf-8") as file:
        return next(csv.reader(file))


def test_the_erpnext_data_export_is_detected(shared_fixture):
    detection = detect_profile(headers_of(shared_fixture("erp", "erpnext_sales_order_export.csv")))

    assert detection.profile is ERPNEXT
    assert detection.reason.startswith("Detected ERPNext Sales Order")


def test_the_odoo_export_is_detected(shared_fixture):
    assert detect_profile(headers_of(shared_fixture("erp", "odoo_sale_order_export.csv"))).profile is ODOO


def test_the_real_odoo_export_without_status_columns_is_named_but_not_chosen(shared_fixture):
    headers = headers_of(shared_fixture("erp", "odoo_o2m-quotations-order-lines.csv"))

    detection = detect_profile(headers)

    assert detection.profile is None
    assert detection.closest is ODOO  # its order lines and Order Reference say Odoo
    assert "look most like an Odoo sale.order export" in detection.reason


def test_a_generic_export_is_detected_by_its_documented_columns():
    detection = detect_profile(["order_number", "Status", "Total", "Currency", "Modified At", "Customer Email"])

    assert detection.profile is GENERIC


def test_columns_no_profile_knows_are_no_profile():
    detection = detect_profile(["Name", "Street", "City"])

    assert (detection.profile, detection.closest) == (None, None)
    assert "match no ERP profile" in detection.reason and "“Street”" in detection.reason


def test_one_shared_label_is_no_evidence_of_an_erp():
    assert detect_profile(["Status", "Street"]).closest is None


def test_headers_match_by_label_or_field_name_whatever_the_case_and_spacing():
    headers = ["name", "PO_NO", "status", "delivery status", "Billing  Status", "grand_total", "CURRENCY",
               "% Delivered"]

    columns = match_columns(ERPNEXT, headers)

    assert columns["shop_order_number"] == "PO_NO"
    assert columns["per_delivered"] == "% Delivered"  # ERPNext labels it "%  Delivered", two spaces
    assert columns["erp_id"] == "name"


def test_a_missing_required_column_is_one_error_naming_what_was_expected_and_found():
    headers = ["ID", "Status", "Grand Total", "Currency", "Customer"]

    with pytest.raises(ColumnsError) as refused:
        match_columns(ERPNEXT, headers)

    error = refused.value
    assert error.profile == "erpnext"
    assert error.missing == ["Customer's Purchase Order", "Delivery Status", "Billing Status"]
    assert error.expected == ["Customer's Purchase Order", "Status", "Delivery Status", "Billing Status",
                              "Grand Total", "Currency"]
    assert error.found == headers
    assert "lacks the columns “Customer's Purchase Order”, “Delivery Status”, “Billing Status”" in error.message
    assert "nothing was imported" in error.message and "Found: “ID”, “Status”" in error.message


def test_the_shop_order_number_column_is_configurable():
    headers = ["Order Reference", "Shop Order", "Status", "Total", "Currency"]

    columns = match_columns(ODOO, headers, {"shop_order_number": "Shop Order"})

    assert columns["shop_order_number"] == "Shop Order"


def test_an_override_replaces_the_profile_label():
    with pytest.raises(ColumnsError) as refused:
        match_columns(ODOO, ["Order Reference", "Customer Reference", "Status", "Total", "Currency"],
                      {"shop_order_number": ["Webshop No", "x_shop_number"]})

    assert refused.value.missing == ["Webshop No"]


def test_detection_uses_the_overrides_of_each_profile():
    headers = ["ID", "Webshop No", "Status", "Delivery Status", "Billing Status", "Grand Total", "Currency"]

    assert detect_profile(headers).profile is None
    assert detect_profile(headers, {"erpnext": {"shop_order_number": "Webshop No"}}).profile is ERPNEXT


def test_one_column_may_carry_two_fields():
    columns = match_columns(ODOO, ["Order Reference", "Status", "Total", "Currency"],
                            {"shop_order_number": "Order Reference"})

    assert columns["erp_id"] == columns["shop_order_number"] == "Order Reference"


@pytest.mark.parametrize("overrides", [{"po_number": "PO"}, {"status": ""}, {"status": []}, {"status": 7}])
def test_an_override_that_names_no_field_or_no_column_is_a_clear_error(overrides):
    with pytest.raises(ValueError, match="ERPNext Sales Order has no field|must be a header label"):
        match_columns(ERPNEXT, ["ID"], overrides)


def test_profiles_are_chosen_by_key():
    assert get_profile("ERPNext") is ERPNEXT and get_profile(ODOO) is ODOO
    with pytest.raises(ValueError, match="choose one of erpnext, odoo, generic"):
        get_profile("sap")


def test_erpnext_raw_status_combines_its_three_statuses_in_erpnexts_spelling():
    values = {"status": "to deliver and bill", "delivery_status": "Not Delivered", "billing_status": "NOT BILLED"}

    assert ERPNEXT.status(values) == "To Deliver and Bill|Not Delivered|Not Billed"


def test_odoo_labels_and_technical_values_give_one_raw_status():
    by_label = {"status": "Sales Order", "invoice_status": "To Invoice", "delivery_status": "Fully Delivered"}
    by_value = {"status": "sale", "invoice_status": "to invoice", "delivery_status": "full"}

    assert ODOO.status(by_label) == ODOO.status(by_value) == "sale|to invoice|full"
    assert ODOO.status({"status": "Quotation Sent"}) == "sent||"
    assert ODOO.status({"status": "Cancelled"}) == "cancel||"


def test_a_status_outside_the_vocabulary_is_kept_as_it_came_for_the_status_mapping():
    assert ERPNEXT.status({"status": "Shipped", "delivery_status": "", "billing_status": ""}) == "Shipped||"
    assert GENERIC.status({"status": "Ready for pickup"}) == "Ready for pickup"
