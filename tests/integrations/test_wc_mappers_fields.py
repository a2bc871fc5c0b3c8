"""WooCommerce status mapping, money and date parsing (pure, no database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from integrations.woocommerce import mappers as m
from tests.integrations.wc_fixtures import load


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- one place for states, same rules as the domain ----------------------------------------

def test_canonical_states_are_exactly_the_domain_order_states():
    from lifecycle.models import OrderState

    assert m.CANONICAL_STATES == {s.value for s in OrderState}


# --- statuses ----------------------------------------------------------------------------

def test_every_core_woocommerce_status_is_mapped_or_ignored():
    statuses = load("order_statuses.json")
    raw = [*statuses["wc_get_order_statuses"], *statuses["added_by_blocks_filter"],
           *statuses["rest_v3_doc_status_options"]]
    results = {r: m.map_status(r, m.DEFAULT_STATUS_MAP) for r in raw}

    assert [r for r, res in results.items() if res.outcome == m.UNMAPPED] == []
    assert results["wc-checkout-draft"].outcome == m.IGNORED


@pytest.mark.parametrize("raw, state", [
    ("pending", "pending_payment"), ("on-hold", "on_hold"), ("processing", "paid"), ("completed", "completed"),
    ("cancelled", "cancelled"), ("refunded", "refunded"), ("failed", "failed"), ("trash", "deleted"),
    ("wc-processing", "paid"), ("wc-on-hold", "on_hold"), (" Processing ", "paid"),
])
def test_default_mapping(raw, state):
    result = m.map_status(raw, m.DEFAULT_STATUS_MAP)

    assert (result.outcome, result.state, result.raw) == (m.CANONICAL, state, raw)


@pytest.mark.parametrize("raw", ["checkout-draft", "wc-checkout-draft"])
def test_checkout_draft_is_ignored(raw):
    assert m.map_status(raw, m.DEFAULT_STATUS_MAP) == m.StatusResult(m.IGNORED, raw, "checkout-draft")


@pytest.mark.parametrize("raw", ["shipped", "ready-for-pickup", "wc-shipped", ""])
def test_plugin_statuses_are_unmapped_with_the_raw_value_kept(raw):
    result = m.map_status(raw, m.DEFAULT_STATUS_MAP)

    assert (result.outcome, result.state, result.raw) == (m.UNMAPPED, None, raw)


def test_a_manager_mapping_maps_plugin_statuses_and_a_bad_target_stays_unmapped():
    mapping = {**m.DEFAULT_STATUS_MAP, "wc-shipped": "shipped", "ready-for-pickup": "shiped"}

    assert m.map_status("shipped", mapping).state == "shipped"
    assert m.map_status("ready-for-pickup", mapping).outcome == m.UNMAPPED


# --- money and dates ---------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("29.35", "29.35"), ("-10.00", "-10.00"), ("", "0.00"), (None, "0.00"), ("0.9", "0.90"), (" 1.35 ", "1.35"),
    (3, "3.00"), (12.5, "12.50"), (0.1, "0.10"), ("1.005", "1.01"), ("-1.005", "-1.01"), (Decimal("2"), "2.00"),
])
def test_parse_money_is_exact_to_the_cent(value, expected):
    amount = m.parse_money(value)

    assert type(amount) is Decimal and str(amount) == expected


def test_money_adds_up_without_float_error():
    assert m.parse_money("0.1") + m.parse_money("0.2") == Decimal("0.30")


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "1,234.56", True, [], {}])
def test_parse_money_refuses_garbage(value):
    with pytest.raises(ValueError):
        m.parse_money(value)


@pytest.mark.parametrize("value, expected", [
    ("2017-03-22T19:28:02", utc(2017, 3, 22, 19, 28, 2)),
    ("2017-03-22T21:28:02+02:00", utc(2017, 3, 22, 19, 28, 2)),
    ("2017-03-22T19:28:02Z", utc(2017, 3, 22, 19, 28, 2)),
    (None, None), ("", None),
])
def test_parse_gmt_gives_aware_utc(value, expected):
    parsed = m.parse_gmt(value)

    assert parsed == expected
    assert parsed is None or parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["yesterday", "2017-13-01T00:00:00", 1490210882])
def test_parse_gmt_refuses_garbage(value):
    with pytest.raises(ValueError):
        m.parse_gmt(value)
