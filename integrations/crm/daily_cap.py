"""HubSpot's daily request cap, kept instead of met: every request a delivery or a pull sends is added
to the connection's count of the day (CrmConnection.requests_today, every process adding to one row),
and a run stops before the cap (CrmConnection.daily_cap, the account's). The day is HubSpot's: it
ends at midnight in the account's time zone (CrmConnection.time_zone, read at each check; UTC until
then, or when HubSpot does not say).

Deliveries stop at DELIVERY_SHARE of it, so the pulls keep the rest and the console still hears the
CRM; the pulls stop at the cap itself. A delivery that stops for the cap holds the due changes until
the next day (their error says why, the dashboard counts them as held) and opens one `sync_failure`
for the connection (failures.py), resolved by the next delivery that goes through.
The default cap is the smallest tier's, 250,000.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection as db

from integrations.crm import failures
from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.db.sql import col, table

# The pulls' share of the day: deliveries leave the last 5% of the cap to them.
DELIVERY_SHARE = 0.95
# Requests a run sends between two counts in the database, at most (fewer near the cap: half of what is
# left): a statement per batch would cost the deliveries a tenth of their time, and ten requests are
# nothing to a cap of 250,000 or more.
COUNT_EVERY = 10
CAUSE = "daily_cap"


# Adds a run's requests to the day's count (a new day starts from them) and reads it back, in one
# statement (PostgreSQL, SQLite >= 3.35): every batch asks, so it must cost one round trip.
COUNT = """UPDATE {connection} SET {count} = CASE WHEN {day} = %(today)s THEN {count} + %(sent)s ELSE %(sent)s END,
                             {day} = %(today)s
 WHERE {id} = %(id)s RETURNING {count}"""


def zone_named(name):
    """`name` when it is a time zone Python knows (and fits its column), else "" (UTC): what HubSpot
    says of the account is checked where it enters."""
    if not isinstance(name, str) or not name or len(name) > CrmConnection._meta.get_field("time_zone").max_length:
        return ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return name


def zone_of(connection):
    """The account's time zone; UTC when unknown."""
    name = zone_named(connection.time_zone)
    return ZoneInfo(name) if name else UTC


def zone_name(connection):
    return zone_named(connection.time_zone) or "UTC"


def _count(connection, sent, now):
    """Add `sent` requests to the connection's count of `now`'s day (HubSpot's); returns the day's count."""
    sql = COUNT.format(connection=table(CrmConnection), count=col(CrmConnection, "requests_today"),
                       day=col(CrmConnection, "requests_day"), id=col(CrmConnection, "id"))
    with db.cursor() as cursor:
        cursor.execute(sql, {"today": now.astimezone(zone_of(connection)).date(), "sent": sent, "id": connection.pk})
        row = cursor.fetchone()
    return row[0] if row else 0


class Usage:
    """One run's requests through one adapter, counted as they go (adapters without a counter, the
    tests' fakes, count nothing)."""

    def __init__(self, connection, adapter, share):
        self.connection, self.adapter, self.share = connection, adapter, share
        self.seen, self.capped, self.uncounted = getattr(adapter, "requests", 0), False, 0

    def spend(self, now, final=False):
        """Count what was sent since the last count (when enough was, or `final`); "" while the run
        may go on, else the sentence saying why it stops."""
        sent = getattr(self.adapter, "requests", 0) - self.seen
        if sent < self.uncounted and not final:
            return ""
        self.seen += sent
        used, limit = _count(self.connection, sent, now), int(self.connection.daily_cap * self.share)
        self.uncounted = max(1, min(COUNT_EVERY, (limit - used) // 2))
        if used < limit:
            return ""
        self.capped = True
        return (f"{used:,} of the {self.connection.daily_cap:,} requests HubSpot allows a day are used: what is "
                f"left of the day is kept for {'reading what changed in HubSpot' if self.share < 1 else 'nothing'}; "
                f"the rest waits until the count starts again at midnight ({zone_name(self.connection)}).")


def next_day(now, connection):
    """When HubSpot's next day starts for the connection's account."""
    zone = zone_of(connection)
    return datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone)


def changes_hold(*, connection, why, actor, now):
    """A delivery stopped for the cap: its due changes wait for the next day, saying why, and one
    sync_failure tells operations (raised again, it counts another occurrence)."""
    OutboundMessage.objects.filter(connection=connection, state=OutboundMessage.State.PENDING,
                                   next_attempt_at__lte=now).update(next_attempt_at=next_day(now, connection),
                                                                    error_kind=CAUSE,
                                                                    last_error=why)
    failures.daily_cap_raise(connection=connection, why=why, actor=actor)
