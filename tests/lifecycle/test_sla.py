"""SLA business-time math: weekends, holidays, time zones, DST changes, boundaries, long SLAs.

Times are written in the calendar's local wall clock (`at(...)`) and compared as instants, so a
wrong UTC offset (the usual DST bug) fails the comparison.
"""

import zoneinfo
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.models import Holiday
from lifecycle.services.sla import calendar_for
from lifecycle.business_time import BusinessCalendar, add_business_minutes, business_minutes_between
from tests.factories import team

WEEK = BusinessCalendar()  # Monday–Friday 09:00–17:00 UTC
HOURS = 60


def at(tz, *args):
    return datetime(*args, tzinfo=zoneinfo.ZoneInfo(tz))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- one week, one time zone ----------------------------------------------------------------
@pytest.mark.parametrize("start, minutes, due", [
    (utc(2026, 6, 1, 10), 60, utc(2026, 6, 1, 11)),                  # Monday, inside the day
    (utc(2026, 6, 5, 16), 4 * HOURS, utc(2026, 6, 8, 12)),           # Friday 16:00 → Monday 12:00
    (utc(2026, 6, 6, 11), 30, utc(2026, 6, 8, 9, 30)),               # Saturday: clock starts Monday 09:00
    (utc(2026, 6, 2, 7), 60, utc(2026, 6, 2, 10)),                   # before opening: starts at 09:00
    (utc(2026, 6, 2, 18), 60, utc(2026, 6, 3, 10)),                  # after closing: next morning
    (utc(2026, 6, 1, 9), 8 * HOURS, utc(2026, 6, 1, 17)),            # a due time on a closing stays there
    (utc(2026, 6, 1, 17), 0, utc(2026, 6, 1, 17)),                   # zero minutes at the closing instant
    (utc(2026, 6, 1, 17), 1, utc(2026, 6, 2, 9, 1)),                 # one minute past it: next opening
    (utc(2026, 6, 6, 12), 0, utc(2026, 6, 8, 9)),                    # zero minutes on a weekend: next opening
    (utc(2026, 6, 1, 9), 5 * 8 * HOURS, utc(2026, 6, 5, 17)),        # a whole week
    (utc(2026, 6, 3, 12), 16 * HOURS, utc(2026, 6, 5, 12)),          # two business days
    (utc(2026, 6, 3, 12), 10 * 8 * HOURS, utc(2026, 6, 17, 12)),     # two weeks across two weekends
])
def test_business_minutes_count_only_opening_hours(start, minutes, due):
    assert add_business_minutes(start, minutes, WEEK) == due


def test_holidays_are_skipped_like_weekends():
    # given Thursday 4 June is a holiday
    calendar = BusinessCalendar(holidays={date(2026, 6, 4)})
    # then Wednesday 16:00 + 2 business hours is Friday 10:00, and Thursday counts nothing
    assert add_business_minutes(utc(2026, 6, 3, 16), 2 * HOURS, calendar) == utc(2026, 6, 5, 10)
    assert business_minutes_between(utc(2026, 6, 4, 0), utc(2026, 6, 5, 0), calendar) == 0
    # and a holiday on a Friday before a weekend pushes to Monday
    long_weekend = BusinessCalendar(holidays={date(2026, 6, 5)})
    assert add_business_minutes(utc(2026, 6, 4, 16), 2 * HOURS, long_weekend) == utc(2026, 6, 8, 10)


def test_custom_working_week_and_hours():
    # given a Sunday–Thursday team working 08:00–12:30
    calendar = BusinessCalendar(time_zone="Asia/Jerusalem", work_days={6, 0, 1, 2, 3},
                                day_starts=time(8), day_ends=time(12, 30))
    # when 6 business hours start on Thursday at 11:30 local
    due = add_business_minutes(at("Asia/Jerusalem", 2026, 6, 4, 11, 30), 6 * HOURS, calendar)
    # then 1 h on Thursday, 4 h 30 on Sunday, 30 min on Monday
    assert due == at("Asia/Jerusalem", 2026, 6, 8, 8, 30)


# --- time zones and DST -----------------------------------------------------------------------
def test_the_same_instant_is_due_at_different_times_in_tokyo_and_new_york():
    tokyo, new_york = BusinessCalendar(time_zone="Asia/Tokyo"), BusinessCalendar(time_zone="America/New_York")
    raised = utc(2026, 6, 5, 6)  # Friday 15:00 in Tokyo, Friday 02:00 in New York
    # Tokyo: 2 h on Friday, 2 h on Monday from 09:00
    assert add_business_minutes(raised, 4 * HOURS, tokyo) == at("Asia/Tokyo", 2026, 6, 8, 11) == utc(2026, 6, 8, 2)
    # New York has not opened yet: 09:00–13:00 the same Friday
    assert add_business_minutes(raised, 4 * HOURS, new_york) == at("America/New_York", 2026, 6, 5, 13)
    assert at("America/New_York", 2026, 6, 5, 13) == utc(2026, 6, 5, 17)


@pytest.mark.parametrize("tz, friday, monday, monday_noon_utc", [
    # Europe/Berlin springs forward on the last Sunday of March (29 March 2026): CET (+1) → CEST (+2)
    ("Europe/Berlin", (2026, 3, 27), (2026, 3, 30), utc(2026, 3, 30, 10)),
    # and falls back on the last Sunday of October (25 October 2026): CEST (+2) → CET (+1)
    ("Europe/Berlin", (2026, 10, 23), (2026, 10, 26), utc(2026, 10, 26, 11)),
    # America/New_York springs forward on 8 March 2026 (EST -5 → EDT -4) and falls back on 1 November
    ("America/New_York", (2026, 3, 6), (2026, 3, 9), utc(2026, 3, 9, 16)),
    ("America/New_York", (2026, 10, 30), (2026, 11, 2), utc(2026, 11, 2, 17)),
])
def test_a_weekend_with_a_clock_change_keeps_the_wall_clock_opening_hours(tz, friday, monday, monday_noon_utc):
    # given Friday 16:00 local and 4 business hours (1 h Friday, 3 h Monday)
    calendar = BusinessCalendar(time_zone=tz)
    due = add_business_minutes(at(tz, *friday, 16), 4 * HOURS, calendar)
    # then it is due Monday 12:00 local, at the new UTC offset
    assert due == at(tz, *monday, 12) == monday_noon_utc


@pytest.mark.parametrize("sunday, utc_opening", [((2026, 3, 29), 7), ((2026, 10, 25), 8)])
def test_a_working_day_on_which_the_clocks_change_opens_at_its_wall_clock_time(sunday, utc_opening):
    # given a seven-day team in Berlin, and a DST change at 02:00/03:00 on that Sunday
    calendar = BusinessCalendar(time_zone="Europe/Berlin", work_days=range(7))
    # then Saturday 16:00 + 2 business hours is Sunday 10:00 local: 1 h before closing, 1 h after opening
    due = add_business_minutes(at("Europe/Berlin", *sunday[:2], sunday[2] - 1, 16), 2 * HOURS, calendar)
    assert due == at("Europe/Berlin", *sunday, 10) == utc(*sunday, utc_opening + 1)
    # and the DST day still has its eight business hours
    assert business_minutes_between(at("Europe/Berlin", *sunday, 0), at("Europe/Berlin", *sunday, 23), calendar) == 480


@pytest.mark.parametrize("sunday, real_hours", [((2026, 3, 29), 3), ((2026, 10, 25), 5)])
def test_a_clock_change_inside_the_opening_hours_counts_real_time(sunday, real_hours):
    # given a night shift 01:00–05:00 in Berlin and the 02:00 → 03:00 (March) / 03:00 → 02:00 (October) change
    calendar = BusinessCalendar(time_zone="Europe/Berlin", work_days=range(7), day_starts=time(1), day_ends=time(5))
    opens, closes = at("Europe/Berlin", *sunday, 1), at("Europe/Berlin", *sunday, 5)
    # then the opening lasts what a watch shows, and the due time of exactly that much is the closing
    assert business_minutes_between(opens, closes, calendar) == real_hours * HOURS
    assert add_business_minutes(opens, real_hours * HOURS, calendar) == closes


# --- counting business minutes ---------------------------------------------------------------------
def test_business_minutes_between_counts_only_opening_hours():
    assert business_minutes_between(utc(2026, 6, 5, 16), utc(2026, 6, 8, 12), WEEK) == 4 * HOURS
    assert business_minutes_between(utc(2026, 6, 6, 0), utc(2026, 6, 7, 23), WEEK) == 0
    assert business_minutes_between(utc(2026, 6, 8, 12), utc(2026, 6, 5, 16), WEEK) == -4 * HOURS
    assert business_minutes_between(utc(2026, 6, 1, 0), utc(2027, 6, 1, 0), WEEK) == 261 * 8 * HOURS


def test_a_very_long_sla_is_computed_by_days_not_minutes():
    # 100,000 business minutes ≈ 208 working days: fast, and exactly invertible
    start = utc(2026, 1, 5, 9)
    due = add_business_minutes(start, 100_000, WEEK)
    assert business_minutes_between(start, due, WEEK) == 100_000
    assert due == utc(2026, 10, 22, 11, 40)  # 208 days × 480 + 160 minutes, counted by hand from 5 Jan 2026


@pytest.mark.parametrize("make", [
    lambda: BusinessCalendar(day_starts=time(17), day_ends=time(9)),      # overnight
    lambda: BusinessCalendar(day_starts=time(9), day_ends=time(9)),       # empty day
    lambda: BusinessCalendar(work_days=set()),                             # never open
    lambda: BusinessCalendar(work_days={7}),                               # not a weekday
    lambda: BusinessCalendar(time_zone="Mars/Olympus_Mons"),
])
def test_calendars_that_cannot_work_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_naive_times_and_negative_minutes_are_refused():
    with pytest.raises(ValueError):
        add_business_minutes(datetime(2026, 6, 1, 9), 10, WEEK)
    with pytest.raises(ValueError):
        add_business_minutes(utc(2026, 6, 1, 9), -1, WEEK)


# --- properties ------------------------------------------------------------------------------------
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "America/Santiago"]
calendars = st.builds(
    BusinessCalendar,
    time_zone=st.sampled_from(ZONES),
    work_days=st.sets(st.integers(0, 6), min_size=1),
    day_starts=st.sampled_from([time(0), time(1), time(7, 30), time(9)]),
    day_ends=st.sampled_from([time(12), time(17), time(23, 59)]),
    holidays=st.sets(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=30),
)
instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 6, 30), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, start=instants, minutes=st.integers(0, 30_000))
def test_counting_back_the_business_minutes_added_gives_the_same_minutes(calendar, start, minutes):
    due = add_business_minutes(start, minutes, calendar)
    assert due >= start
    assert business_minutes_between(start, due, calendar) == pytest.approx(minutes, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=instants, a=st.integers(0, 5_000), b=st.integers(0, 5_000))
def test_more_minutes_are_never_due_earlier_and_adding_composes(calendar, start, a, b):
    first = add_business_minutes(start, a, calendar)
    assert add_business_minutes(start, a + b, calendar) >= first
    if b > 0:  # composing can differ only at a closing instant (a due time stays on it; the next minute moves on)
        assert add_business_minutes(first, b, calendar) == add_business_minutes(start, a + b, calendar)


# --- the calendars of the queues (database) ----------------------------------------------------------
@pytest.mark.django_db
def test_a_team_calendar_has_its_own_and_the_company_wide_holidays_only():
    # given a Tokyo support team, a company holiday, a support holiday and a sales holiday
    support = team("support")
    support.time_zone, support.work_days = "Asia/Tokyo", [0, 1, 2, 3]
    support.save()
    Holiday.objects.create(team=None, date=date(2026, 12, 25), name="Christmas")
    Holiday.objects.create(team=support, date=date(2026, 6, 1), name="Team offsite")
    Holiday.objects.create(team=team("sales"), date=date(2026, 6, 2), name="Sales kick-off")
    # when the calendars are loaded
    calendar, managers = calendar_for(support.pk), calendar_for(None)
    # then support has its zone, days and both holidays; the managers' queue only the company's
    assert (calendar.time_zone, calendar.work_days) == ("Asia/Tokyo", frozenset({0, 1, 2, 3}))
    assert calendar.holidays == {date(2026, 12, 25), date(2026, 6, 1)}
    assert managers.holidays == {date(2026, 12, 25)}
    assert (managers.time_zone, managers.day_starts, managers.day_ends) == ("UTC", time(9), time(17))
    # and 2 business hours from Thursday 28 May 16:00 in Tokyo skip Friday (not worked), the weekend
    # and the offsite Monday: 1 h on Thursday, 1 h on Tuesday
    due = add_business_minutes(at("Asia/Tokyo", 2026, 5, 28, 16), 2 * HOURS, calendar)
    assert due == at("Asia/Tokyo", 2026, 6, 2, 10) == utc(2026, 6, 2, 1)
