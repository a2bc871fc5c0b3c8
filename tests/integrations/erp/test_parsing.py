"""Numbers and dates in the export's locale: read strictly, an error sentence instead of a guess."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from integrations.erp.parsing import Formats, parse_datetime, parse_decimal

GERMAN = Formats(decimal_comma=True, day_first=True, time_zone=ZoneInfo("Europe/Berlin"))
ENGLISH = Formats()


@pytest.mark.parametrize(("text", "amount"), [
    ("1.234,50", "1234.50"), ("1234,50", "1234.50"), ("0,5", "0.5"), ("12", "12"), (" 1.234.567,89 ", "1234567.89"),
    ("-1.234,50", "-1234.50"), ("1.234,50-", "-1234.50"), ("1 234,50", "1234.50"), ("1\u00a0234,50", "1234.50"),
])
def test_german_numbers_in_a_semicolon_file(text, amount):
    assert parse_decimal(text, GERMAN) == Decimal(amount)


@pytest.mark.parametrize(("text", "amount"), [
    ("1,234.50", "1234.50"), ("1234.50", "1234.50"), ("1165.25", "1165.25"), ("100.0", "100.0"), ("+7", "7"),
    ("-0.01", "-0.01"), ("1,234,567.8", "1234567.8"),
])
def test_numbers_elsewhere(text, amount):
    assert parse_decimal(text, ENGLISH) == Decimal(amount)


@pytest.mark.parametrize(("text", "formats"), [
    ("1234.50", GERMAN),  # a decimal point where the file's locale writes a comma
    ("1.23,4", GERMAN), ("1.234 567,00", GERMAN),  # broken or mixed thousands groups
    ("1234,50", ENGLISH), ("1,23.4", ENGLISH), ("12,34", ENGLISH),
    ("", ENGLISH), ("abc", ENGLISH), ("1e5", ENGLISH), ("$12.00", ENGLISH), ("NaN", ENGLISH), ("Infinity", ENGLISH),
    ("--1", ENGLISH), ("1.2.3", ENGLISH),
])
def test_a_number_that_does_not_fit_the_locale_is_an_error_naming_the_form_expected(text, formats):
    with pytest.raises(ValueError) as failed:
        parse_decimal(text, formats)

    assert "is not a number as this file writes them" in str(failed.value)
    assert ("1.234,50" if formats.decimal_comma else "1,234.50") in str(failed.value)


@pytest.mark.parametrize(("text", "formats", "moment"), [
    ("2025-12-01 10:37:22", ENGLISH, datetime(2025, 12, 1, 10, 37, 22, tzinfo=UTC)),
    ("2025-12-01", ENGLISH, datetime(2025, 12, 1, tzinfo=UTC)),
    ("2025-12-02 09:15:04.512338", ENGLISH, datetime(2025, 12, 2, 9, 15, 4, 512338, tzinfo=UTC)),
    ("2025-12-01T10:37:22+02:00", ENGLISH, datetime(2025, 12, 1, 8, 37, 22, tzinfo=UTC)),
    ("2025-12-01T10:37:22Z", GERMAN, datetime(2025, 12, 1, 10, 37, 22, tzinfo=UTC)),
    ("2025-12-01 10:37:22", GERMAN, datetime(2025, 12, 1, 9, 37, 22, tzinfo=UTC)),  # Berlin, winter: UTC+1
    ("01-12-2025", GERMAN, datetime(2025, 11, 30, 23, 0, tzinfo=UTC)),
    ("01.12.2025 10:37", ENGLISH, datetime(2025, 12, 1, 10, 37, tzinfo=UTC)),  # dots are always day first
    ("12/01/2025", Formats(day_first=False), datetime(2025, 12, 1, tzinfo=UTC)),
    ("01/12/2025 23:59:59", Formats(day_first=True), datetime(2025, 12, 1, 23, 59, 59, tzinfo=UTC)),
])
def test_dates_and_datetimes_become_aware_utc(text, formats, moment):
    assert parse_datetime(text, formats) == moment


@pytest.mark.parametrize(("text", "formats", "said"), [
    ("12/01/2025", ENGLISH, "could be day-month or month-day"),
    ("01-12-2025", ENGLISH, "could be day-month or month-day"),
    ("31-02-2025", GERMAN, "is not a real date"),
    ("13/25/2025", Formats(day_first=False), "is not a real date"),
    ("2025-13-01", ENGLISH, "is not a real date"),
    ("2025-12-01 25:00", ENGLISH, "is not a real date"),
    ("yesterday", ENGLISH, "is not a date this import reads"),
    ("01-12-25", GERMAN, "is not a date this import reads"),
    ("2025-W01", ENGLISH, "is not a date this import reads"),
    ("", ENGLISH, "is not a date this import reads"),
])
def test_a_date_that_cannot_be_read_surely_is_an_error(text, formats, said):
    with pytest.raises(ValueError, match=said):
        parse_datetime(text, formats)
