"""read_orders: the fixtures' orders with their line rows folded in, and every bad input as a clear error."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.erp.errors import ColumnsError, NotCsvError, RowError
from integrations.erp.reader import ParsedOrder, read_orders

GENERIC_HEADER = "Order Number,Status,Total,Currency,Modified At,Customer Email"


def export(*lines: str, eol: str = "\r\n", encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO((eol.join(lines) + eol).encode(encoding))


def read(fileobj, **options):
    reading = read_orders(fileobj, **options)
    items = list(reading)
    return ([item for item in items if isinstance(item, ParsedOrder)],
            [item for item in items if isinstance(item, RowError)], reading)


def test_the_erpnext_export_folds_item_rows_into_their_orders(shared_fixture):
    with open(shared_fixture("erp", "erpnext_sales_order_export.csv"), "rb") as file:
        orders, errors, reading = read(file)

    assert errors == []
    assert (reading.header.profile.key, reading.header.detected) == ("erpnext", True)
    assert [(o.line, o.rows, o.erp_id, o.shop_order_number) for o in orders] == [
        (2, 3, "SAL-ORD-2025-00001", "1042"), (5, 1, "SAL-ORD-2025-00002", "1043"),
        (6, 2, "SAL-ORD-2025-00003", "1044"), (8, 1, "SAL-ORD-2025-00004", "1045")]
    first = orders[0]
    assert first.raw_status == "To Deliver and Bill|Not Delivered|Not Billed"
    assert (first.total, first.currency) == (Decimal("1165.25"), "USD")
    assert first.observed_at == datetime(2025, 12, 1, 10, 37, 22, 512338, tzinfo=UTC)
    assert first.placed_at == datetime(2025, 12, 1, tzinfo=UTC)
    assert first.customer_email == "anna.berg@example.com"
    assert first.details == {"per_delivered": Decimal("0.0"), "per_billed": Decimal("0.0")}
    assert first.values["Customer's Purchase Order"] == "1042" and first.values["Customer"] == "Ready Mat"
    assert [o.raw_status for o in orders[1:]] == ["Completed|Fully Delivered|Fully Billed",
                                                  "To Bill|Fully Delivered|Not Billed",
                                                  "Cancelled|Not Delivered|Not Billed"]
    assert (orders[1].total, orders[1].currency, orders[3].customer_email) == (Decimal("89.90"), "EUR", None)


def test_erpnext_child_rows_that_repeat_the_parent_columns_read_the_same(shared_fixture):
    with open(shared_fixture("erp", "erpnext_sales_order_export.csv"), newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    parents = header.index("ID (Items)")
    repeated, parent = [], None
    for row in rows:
        parent = row[:parents] if row[0] else parent
        repeated.append(parent + row[parents:])
    text = io.StringIO()
    csv.writer(text).writerows([header, *repeated])

    with open(shared_fixture("erp", "erpnext_sales_order_export.csv"), "rb") as file:
        expected, _, _ = read(file)
    orders, errors, _ = read(io.BytesIO(text.getvalue().encode()))

    assert errors == []
    assert orders == expected


def test_the_odoo_export_folds_order_lines_and_reads_labels_as_odoo_values(shared_fixture):
    with open(shared_fixture("erp", "odoo_sale_order_export.csv"), "rb") as file:
        orders, errors, reading = read(file)

    assert errors == []
    assert reading.header.profile.key == "odoo"
    assert [(o.line, o.rows, o.erp_id, o.shop_order_number, o.raw_status, o.total) for o in orders] == [
        (2, 3, "S00003", "1042", "sale|to invoice|", Decimal("1165.25")),
        (5, 2, "S00002", "1043", "draft|no|", Decimal("3242.25"))]
    assert orders[0].observed_at == datetime(2025, 12, 2, 8, 0, 5, tzinfo=UTC)
    assert orders[0].placed_at == datetime(2025, 12, 1, 10, 37, 22, tzinfo=UTC)


def test_the_real_odoo_export_lacks_the_order_columns_and_is_refused_whole(shared_fixture):
    with open(shared_fixture("erp", "odoo_o2m-quotations-order-lines.csv"), "rb") as file, \
            pytest.raises(ColumnsError) as refused:
        read_orders(file)

    assert refused.value.profile == "odoo"
    assert refused.value.missing == ["Customer Reference", "Status", "Total", "Currency"]
    assert "“Order Lines/Product Template”" in refused.value.message


def test_the_real_odoo_export_with_its_columns_mapped_folds_its_five_rows_into_two_orders(shared_fixture):
    # The real export has no status or money columns: mapped onto order columns it has, its two orders
    # read with one total and one currency error each, and its order-line rows join them without errors.
    overrides = {"odoo": {"shop_order_number": "Order Reference", "status": "Customer", "total": "Pricelist",
                          "currency": "Company"}}
    with open(shared_fixture("erp", "odoo_o2m-quotations-order-lines.csv"), "rb") as file:
        items = list(read_orders(file, "odoo", overrides))

    assert [(i.line, i.column, i.value) for i in items] == [
        (2, "Pricelist", "Public Pricelist (USD)"), (2, "Company", "My Company (San Francisco)"),
        (5, "Pricelist", "Public Pricelist (USD)"), (5, "Company", "My Company (San Francisco)")]


def test_a_german_semicolon_export_in_cp1252_with_a_berlin_clock():
    data = export("Order Number;Status;Total;Currency;Modified At;Customer Email;Kunde",
                  "1042;Bezahlt;1.234,50;EUR;01.12.2025 10:37;Anna@Example.de;Müller",
                  "1043;Storniert;99,90;eur;2025-12-02 08:00:00;;Jäger", "", "", encoding="cp1252")

    orders, errors, reading = read(data, time_zone="Europe/Berlin")

    assert errors == []
    assert reading.header.profile.key == "generic" and reading.encoding == "cp1252"
    assert [(o.shop_order_number, o.raw_status, o.total, o.currency, o.observed_at) for o in orders] == [
        ("1042", "Bezahlt", Decimal("1234.50"), "EUR", datetime(2025, 12, 1, 9, 37, tzinfo=UTC)),
        ("1043", "Storniert", Decimal("99.90"), "EUR", datetime(2025, 12, 2, 7, 0, tzinfo=UTC))]
    assert orders[1].values["Kunde"] == "Jäger" and orders[0].customer_email == "anna@example.de"


def test_a_semicolon_file_that_writes_decimal_points_reads_when_told():
    data = export("Order Number;Status;Total;Currency;Modified At", "1042;paid;1234.50;EUR;2025-12-01")

    _, errors, _ = read(data)
    assert [e.message for e in errors] == [
        "“1234.50” is not a number as this file writes them (like 1.234,50 or 1234,50)."]
    orders, errors, _ = read(export("Order Number;Status;Total;Currency;Modified At",
                                    "1042;paid;1234.50;EUR;2025-12-01"), decimal_comma=False)
    assert errors == [] and orders[0].total == Decimal("1234.50")


def test_bad_values_are_row_errors_with_line_column_value_and_the_good_orders_still_read():
    data = export(GENERIC_HEADER,
                  "1001,paid,12.50,EUR,2025-12-01 10:00,",
                  "1002,paid,12.5x,EUR,2025-12-01 10:00,",
                  "1003,paid,10.00,Euro,12/01/2025,",
                  "1004,,10.00,EUR,2025-13-45,not-an-email",
                  "#1005,paid,\"1,000,000,000,000.00\",USD,1969-12-31,",
                  "1006," + "x" * 65 + ",1.00,EUR,2025-12-01,",
                  "1007,completed,7,usd,2025-12-01T10:00:00+01:00,")

    orders, errors, _ = read(data)

    assert [o.shop_order_number for o in orders] == ["1001", "1007"]
    assert orders[1].observed_at == datetime(2025, 12, 1, 9, tzinfo=UTC)
    assert [(e.line, e.column, e.value) for e in errors] == [
        (3, "Total", "12.5x"),
        (4, "Currency", "Euro"), (4, "Modified At", "12/01/2025"),
        (5, "Status", ""), (5, "Modified At", "2025-13-45"), (5, "Customer Email", "not-an-email"),
        (6, "Total", "1,000,000,000,000.00"), (6, "Modified At", "1969-12-31"),
        (7, "Status", "x" * 65)]
    messages = {e.column: e.message for e in errors}
    assert messages["Currency"] == "“Euro” is not a three-letter currency code (like EUR or USD)."
    assert messages["Status"] == "Longer than the 64 characters the console keeps (65)."
    assert "could be day-month or month-day" in errors[2].message
    assert errors[3].message == "No status: this column is empty on every row of the order."


def test_an_order_whose_shop_number_is_empty_on_every_row_is_an_error(shared_fixture):
    data = export("ID,Customer's Purchase Order,Status,Delivery Status,Billing Status,Grand Total,Currency,"
                  "Item Code (Items)",
                  "SO-1,,To Bill,Fully Delivered,Not Billed,10.0,USD,A",
                  ",,,,,,,B",
                  "SO-2,,To Bill,Fully Delivered,Not Billed,10.0,USD,A",
                  "SO-2,2002,To Bill,Fully Delivered,Not Billed,10.0,USD,B")

    orders, errors, _ = read(data)

    assert errors == [RowError(2, "Customer's Purchase Order", "",
                               "No shop order number: this column is empty on every row of the order.")]
    assert [(o.erp_id, o.shop_order_number, o.rows) for o in orders] == [("SO-2", "2002", 2)]


def test_an_erpnext_export_without_the_id_column_groups_by_the_shop_order_number():
    data = export("Customer's Purchase Order,Status,Delivery Status,Billing Status,Grand Total,Currency,"
                  "Item Code (Items)",
                  "1042,To Bill,Fully Delivered,Not Billed,10.0,USD,A", ",,,,,,B", "1043,Draft,,,5,USD,C")

    orders, errors, _ = read(data)

    assert errors == []
    assert [(o.erp_id, o.rows, o.raw_status) for o in orders] == [("1042", 2, "To Bill|Fully Delivered|Not Billed"),
                                                                 ("1043", 1, "Draft||")]


def test_rows_of_one_order_that_disagree_are_an_error_on_the_later_row():
    data = export("ID,Customer's Purchase Order,Status,Delivery Status,Billing Status,Grand Total,Currency",
                  "SO-1,1042,To Bill,Fully Delivered,Not Billed,10.0,USD",
                  "SO-1,1042,Completed,Fully Delivered,Not Billed,10.0,USD")

    orders, errors, _ = read(data)

    assert orders == []
    assert errors == [RowError(3, "Status", "Completed",
                               "Differs from “To Bill” on line 2 for the same order; an order has one.")]


def test_a_line_row_before_any_order_and_an_order_row_without_its_reference_are_errors(shared_fixture):
    data = export('"Order Reference","Customer Reference","Status","Total","Currency","Order Lines/Product"',
                  ",,,,,Stray line",
                  "S1,1042,Sales Order,10,USD,Chair",
                  ",1043,Quotation,5,USD,Desk",  # order values, no Order Reference
                  ",,,,,Lamp",  # a line of that unnamed order: not folded into S1
                  "S2,1044,Sales Order,7,USD,Mug")

    orders, errors, _ = read(data)

    assert [(o.erp_id, o.rows) for o in orders] == [("S1", 1), ("S2", 1)]
    assert [(e.line, e.column) for e in errors] == [(2, "Order Reference"), (4, "Order Reference")]
    assert errors[0].message == "This row continues an order, but no order starts above it."
    assert "has order values but no Order Reference" in errors[1].message


def test_a_row_with_more_cells_than_the_header_is_an_error_of_the_row():
    orders, errors, _ = read(export(GENERIC_HEADER, "1001,paid,12.50,EUR,2025-12-01,,surprise, more"))

    assert orders == []
    assert errors == [RowError(2, None, "surprise, more", "This row has 2 more values than the header has "
                                                           "columns; check its quotes and delimiters.")]


def test_a_chosen_profile_is_said_so_and_must_fit_the_file(shared_fixture):
    with open(shared_fixture("erp", "odoo_sale_order_export.csv"), "rb") as file:
        reading = read_orders(file, profile="odoo")
    assert (reading.header.detected, reading.header.reason) == (False, "Odoo sale.order, as chosen.")

    with open(shared_fixture("erp", "odoo_sale_order_export.csv"), "rb") as file, \
            pytest.raises(ColumnsError) as refused:
        read_orders(file, profile="erpnext")
    assert refused.value.profile == "erpnext" and "Delivery Status" in refused.value.missing


def test_a_configured_shop_order_column_is_read():
    data = export("Order Reference,Webshop No,Customer Reference,Status,Total,Currency",
                  "S1,1042,PO-77,Sales Order,10,USD")

    orders, _, reading = read(data, column_overrides={"odoo": {"shop_order_number": "Webshop No"}})

    assert reading.header.columns["shop_order_number"] == "Webshop No"
    assert orders[0].shop_order_number == "1042"


def test_a_file_no_profile_matches_is_refused_whole():
    with pytest.raises(ColumnsError) as refused:
        read_orders(export("Name,Street,City", "Ann,Main St,Springfield"))

    assert refused.value.profile is None
    assert "match no ERP profile" in refused.value.message and "Choose the profile" in refused.value.message


def test_a_spreadsheet_is_refused_before_any_profile_is_looked_for():
    with pytest.raises(NotCsvError, match="Excel .xlsx"):
        read_orders(io.BytesIO(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100))


def test_a_bom_semicolon_crlf_export_with_quoted_newlines_and_trailing_empty_lines():
    data = ("\ufeffID;Customer's Purchase Order;Status;Delivery Status;Billing Status;Grand Total;Currency;Date;"
            "Notes;Item Code (Items)\r\n"
            'SO-1;1042;To Deliver;Not Delivered;Fully Billed;1.234,50;EUR;01-12-2025;"Ring twice\r\nthen wait";A\r\n'
            ";;;;;;;;;B\r\n"
            "SO-2;1043;Completed;Fully Delivered;Fully Billed;99,90;EUR;02-12-2025;;C\r\n"
            "\r\n;;;;;;;;;\r\n\r\n").encode()

    orders, errors, reading = read(io.BytesIO(data), time_zone="Europe/Berlin")

    assert errors == []
    assert (reading.header.delimiter, reading.encoding) == (";", "utf-8-sig")
    assert [(o.line, o.rows, o.total, o.placed_at) for o in orders] == [
        (2, 2, Decimal("1234.50"), datetime(2025, 11, 30, 23, tzinfo=UTC)),  # ERPNext writes dates day first
        (5, 1, Decimal("99.90"), datetime(2025, 12, 1, 23, tzinfo=UTC))]
    assert orders[0].values["Notes"] == "Ring twice\r\nthen wait"


def test_a_text_mode_file_is_a_programming_error():
    with pytest.raises(TypeError, match="binary mode"):
        read_orders(io.StringIO("a,b\n"))
