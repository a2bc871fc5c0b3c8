"""Fuzzing the ERP CSV profiles (issue 16, item 7): any bytes are a file refused whole with a sentence,
or rows read as orders or row errors; an order read fits what the console stores; and any export,
imported with its invalid rows skipped, ends applied or rejected with its row errors, never an error."""

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.erp.errors import ErpFileError, RowError
from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport, ErpRecord
from integrations.erp.profiles import PROFILES
from integrations.erp.reader import ParsedOrder, read_orders
from integrations.stores import store_connect
from lifecycle.actors import Actor
from tests.factories import make_user
from tests.security.fuzz import HOSTILE_TEXT, PURE, WITH_DATABASE, mostly, rolled_back

# What a column holds in real exports, by the profile field it feeds (numbers in either locale: one of
# them is wrong for the file, a row error); any cell may instead get hostile text.
VALID = {
    "erp_id": ["SO-0001", "S00042", "1"], "shop_order_number": ["1042", "#1042", "W-7"],
    "status": ["sale", "done", "To Deliver and Bill", "Completed", "cancel", "shipped"],
    "delivery_status": ["Fully Delivered", "Not Delivered", "full"], "billing_status": ["Fully Billed", "Not Billed"],
    "invoice_status": ["invoiced", "to invoice"],
    "total": ["1,234.50", "1.234,50", "-12.00", "12.00-", "0", "49.90"],
    "currency": ["EUR", "usd", "GBP"],
    "observed_at": ["2025-12-01 10:00:00", "2025-12-01T10:00:00+02:00", "01.12.2025"],
    "customer_email": ["ada@example.com", "ADA@Example.com ", ""],
    "per_delivered": ["100", "50"], "per_billed": ["0", "100"],
}
VALID["placed_at"] = VALID["observed_at"]
# Hostile text without NUL: a NUL makes the whole file binary, which the bytes test covers.
HOSTILE = HOSTILE_TEXT.map(lambda text: text.replace("\x00", ""))


def cell(field):
    """Mostly what the column holds (so whole orders get through), one time in ten hostile text."""
    return mostly(st.sampled_from(VALID[field]), HOSTILE, odds=9) if field in VALID else HOSTILE


def export(profile_key, rows, delimiter, encoding):
    """A CSV export of the profile's columns (each field's first label), rows of cells, as bytes."""
    headers = [field.labels[0] for field in PROFILES[profile_key].fields]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding, errors="replace")


@st.composite
def exports(draw):
    profile = draw(st.sampled_from(sorted(PROFILES)))
    fields = [field.name for field in PROFILES[profile].fields]
    rows = draw(st.lists(st.tuples(*(cell(name) for name in fields)), max_size=6))
    return export(profile, rows, draw(st.sampled_from([",", ";"])), draw(st.sampled_from(["utf-8", "utf-8-sig",
                                                                                         "cp1252"])))


EXPORTS = exports()
MAX = {name: ErpRecord._meta.get_field(name).max_length
       for name in ("erp_id", "shop_order_number", "raw_status", "currency", "customer_email")}


def read_all(data, profile=None):
    """Every item of the file, or the ErpFileError that refused it (the only error allowed)."""
    try:
        return list(read_orders(io.BytesIO(data), profile))
    except ErpFileError as refused:
        assert refused.message
        return refused


def assert_storable(order):
    for name, limit in MAX.items():
        value = getattr(order, name) or ""
        assert "\x00" not in value and len(value) <= limit, (name, value)
    assert abs(order.total) < 10**12 and order.total == order.total.quantize(order.total.__class__("0.01"))
    for moment in (order.observed_at, order.placed_at):
        assert moment is None or moment.tzinfo is not None


@PURE
@given(data=st.binary(max_size=400))
def test_any_bytes_are_refused_whole_or_read_as_orders_and_row_errors(data):
    read_all(data)


@PURE
@given(data=EXPORTS, choose=st.booleans())
def test_every_profile_reads_any_cells_as_orders_the_console_can_store_or_as_row_errors(data, choose):
    items = read_all(data, profile=None if choose else "generic")
    if isinstance(items, ErpFileError):
        return
    for item in items:
        assert isinstance(item, (ParsedOrder, RowError))
        if isinstance(item, RowError):
            assert item.line >= 2 and item.message
        else:
            assert_storable(item)


@pytest.mark.django_db
def test_importing_any_export_ends_applied_or_rejected_with_its_row_errors():
    operations = make_user("olu", group="Operations")
    store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                  consumer_secret="cs", webhook_secret="whsec", actor=Actor.system("tests"))

    @WITH_DATABASE
    @given(data=EXPORTS)
    def imported(data):
        with rolled_back():
            batch = erp_import(io.BytesIO(data), filename="fuzz.csv", actor=Actor.for_user(operations),
                               dry_run=False, skip_invalid=True)
            assert batch.state in (ErpImport.State.APPLIED, ErpImport.State.REJECTED), batch.message
            assert batch.message or batch.state == ErpImport.State.APPLIED
            assert batch.invalid == len({error.line for error in batch.errors.all()})

    imported()
