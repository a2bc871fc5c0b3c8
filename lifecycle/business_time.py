"""Business-time arithmetic for SLA clocks: pure functions, no ORM.

A calendar is a team's working week in its own time zone: working days (Monday = 0), one opening
per day from `day_starts` to `day_ends` local wall-clock time, and holiday dates with no opening.
Business time is the real time elapsed while the business is open: each opening is turned into two
instants through zoneinfo, so a day on which the clocks change still opens and closes at the same
wall-clock times and its UTC instants come out right. (A change inside the opening hours, e.g. a
night shift 01:00–05:00, makes that one opening an hour longer or shorter, as a watch would show.)

Long SLAs skip day by day (one step per calendar day, never per minute); a day has at most one
opening, so 100,000 business minutes are ~300 steps.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

# A holiday list that covers every working day for years (a data-entry slip) would make the search
# for the next opening run on for as long: past 20 years without one, refuse instead.
MAX_CLOSED_DAYS = 366 * 20


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "UTC"
    work_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    day_starts: time = time(9, 0)
    day_ends: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self):
        # Frozen, and hashable whatever collection the caller passed in.
        object.__setattr__(self, "work_days", frozenset(int(d) for d in self.work_days))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        if not self.work_days or not self.work_days <= set(range(7)):
            raise ValueError(f"work days must be a non-empty subset of 0..6 (Monday = 0), got {sorted(self.work_days)}")
        if self.day_ends <= self.day_starts:
            raise ValueError(f"the day must end after it starts ({self.day_starts}–{self.day_ends}); "
                             "overnight hours are not supported")
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{self.time_zone!r} is not an IANA time zone") from error

    @property
    def tz(self):
        return zoneinfo.ZoneInfo(self.time_zone)  # ZoneInfo caches instances per key

    def is_open_on(self, day):
        return day.weekday() in self.work_days and day not in self.holidays

    def opening(self, day):
        """The (opens, closes) instants of a working day, in UTC."""
        tz = self.tz
        opens = datetime.combine(day, self.day_starts, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(day, self.day_ends, tzinfo=tz).astimezone(UTC)
        return opens, max(opens, closes)

    def local_date(self, instant):
        return instant.astimezone(self.tz).date()


def _aware(value, name):
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def add_business_minutes(start, minutes, calendar):
    """The instant `minutes` of business time after `start` (UTC, aware).

    Outside the opening hours the clock starts at the next opening. A due time that lands exactly
    on a closing is that closing (Friday 17:00), not the next opening (Monday 09:00).
    """
    start = _aware(start, "start")
    remaining = timedelta(minutes=minutes)
    if remaining < timedelta(0):
        raise ValueError(f"minutes must not be negative, got {minutes}")
    cursor, day, closed_days = start, calendar.local_date(start), 0
    while True:
        if calendar.is_open_on(day):
            closed_days = 0
            opens, closes = calendar.opening(day)
            cursor = max(cursor, opens)
            if cursor <= closes:
                if remaining <= closes - cursor:
                    return cursor + remaining
                remaining -= closes - cursor
        else:
            closed_days += 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(f"the calendar has no opening in the {MAX_CLOSED_DAYS} days before {day}")
        day += timedelta(days=1)


def business_minutes_between(start, end, calendar):
    """Business minutes from `start` to `end` (negative when `end` is earlier), as a float."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end < start:
        return -business_minutes_between(end, start, calendar)
    total = timedelta(0)
    day, last = calendar.local_date(start), calendar.local_date(end)
    while day <= last:
        if calendar.is_open_on(day):
            opens, closes = calendar.opening(day)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60

