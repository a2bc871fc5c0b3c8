"""`{{ value|when }}`: how the console shows a moment, on every page and in every admin list.

    <time datetime="2026-12-04T14:03:00+00:00" title="4 Dec 2026, 14:03 UTC">3 hours ago</time>

Within RELATIVE_FOR of now it reads relative ("just now", "3 hours ago", "in 2 days"), which is how
people think of their queue; further away, the date itself in the one format of console/formats/.
The full date and the time zone are always on hover, and the machine-readable moment in `datetime`.
`{{ value|when:"absolute" }}` always shows the date (a column of dates people compare). A date
without a time (a cohort's week, a holiday) shows as the date. None shows as "".

Admin list columns use console.admin.base.when_column, which calls `when` below: one place.
"""

from datetime import date, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext

register = template.Library()

# Within a week "3 days ago" says more than a date; beyond it, people look for the date.
RELATIVE_FOR = timedelta(days=7)
# Under a minute, "0 minutes ago" is noise.
JUST_NOW = timedelta(minutes=1)


def relative(value, now):
    """"3 hours ago", "in 2 days", "just now", or None when `value` is RELATIVE_FOR or more from now."""
    delta = now - value
    if abs(delta) < JUST_NOW:
        return gettext("just now")
    if abs(delta) >= RELATIVE_FOR:
        return None
    if delta > timedelta(0):
        return gettext("%(span)s ago") % {"span": timesince(value, now, depth=1)}
    return gettext("in %(span)s") % {"span": timeuntil(value, now, depth=1)}


@register.filter(is_safe=True)
def when(value, style="relative", now=None):
    """A <time> element for a datetime or date (see the module docstring); "" for None.

    `style`: "relative" (the default) or "absolute". `now`: for tests and callers that render many
    moments against one clock."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        local = timezone.localtime(value)
        absolute = date_format(local, "DATETIME_FORMAT")
        title = f"{absolute} {local.tzname()}"
        text = None if style == "absolute" else relative(value, now or timezone.now())
        return format_html('<time datetime="{}" title="{}">{}</time>',
                           local.isoformat(timespec="seconds"), title, text or absolute)
    if isinstance(value, date):
        absolute = date_format(value, "DATE_FORMAT")
        return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), absolute, absolute)
    return value
