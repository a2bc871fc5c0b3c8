"""The dashboard's "CRM sync" section: is the CRM keeping up with the console? Changes waiting in the
outbox and how old the oldest is (the lag), what was delivered in the last hour, dead letters by
cause with their last error and a link to replay them, and when each kind of record was last pulled.

A manager reads it to know whether HubSpot's owners and stages can be trusted right now; operations
fix what it shows in the CRM outbox. The figures come from console/selectors/crm.py outbox_health,
cached as long as the dashboard's other figures (one scan counts the last hour's deliveries).
"""

from datetime import timedelta

from django.core.cache import cache
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from console.admin.exceptions import countdown
from console.selectors import crm

CACHE_KEY = "console:dashboard:crm"
VIEW_OUTBOX = "crm.view_outboundmessage"
VIEW_CURSORS = "crm.view_crmcursor"
# The deliverer wakes within a second of a change and the beat retries every minute: a change still
# waiting after this long means HubSpot refuses, or nothing delivers. The lag turns red past it.
LAG_ALARM = timedelta(minutes=15)
# A pull runs every few minutes: a kind of record not pulled for this long is said to be behind.
PULL_ALARM = timedelta(hours=1)
# Each cause a change dies of (integrations/crm/failures.py DEAD_CAUSES), for people.
CAUSES = {
    "server": "{crm} answered with server errors",
    "timeout": "{crm} did not answer in time",
    "unreachable": "{crm} could not be reached",
    "rate_limit": "{crm}'s request limit stayed spent",
    "bad_request": "{crm} refused the request as malformed",
    "auth": "{crm} refused the access token",
    "scope": "The access token lacks a permission (scope)",
    "item": "{crm} refused the contact",
}


def figures(now, refresh=False):
    """outbox_health, cached CACHE_SECONDS like the dashboard's snapshot (`refresh` drops it)."""
    from console.views.dashboard import CACHE_SECONDS  # the dashboard imports this module

    if refresh:
        cache.delete(CACHE_KEY)
    return cache.get_or_set(CACHE_KEY, lambda: crm.outbox_health(now) or "none", CACHE_SECONDS)


def _outbox_url(**query):
    try:
        url = reverse("admin:crm_outboundmessage_changelist")
    except NoReverseMatch:  # the outbox admin is not registered
        return None
    return f"{url}?{urlencode(query)}" if query else url


def crm_sync(user, now, refresh=False):
    """The section's context; None when no CRM connection is active (the section says so in a line)."""
    health = figures(now, refresh)
    if health == "none":
        return None
    name = health.connections[0] if len(health.connections) == 1 else _("the CRM")
    links = user.has_perm(VIEW_OUTBOX)
    lag = now - health.oldest_pending if health.oldest_pending else None
    dead = [{**d, "label": CAUSES.get(d["cause"], d["cause"] or _("Unknown cause")).format(crm=name),
             "url": _outbox_url(state="dead", error_kind__exact=d["cause"]) if links else None}
            for d in health.dead]
    pulls = [{**c, "behind": c["success"] is None or now - c["success"] > PULL_ALARM,
              "failed": bool(c["error"]) and (c["success"] is None or (c["run"] or now) > c["success"])}
             for c in health.cursors]
    return {
        "name": name, "connections": health.connections, "pending": health.pending, "held": health.held,
        "oldest": health.oldest_pending, "lag": _age(lag), "late": lag is not None and lag > LAG_ALARM,
        "delivered": health.delivered_last_hour, "dead": dead, "dead_total": sum(d["count"] for d in dead),
        "pulls": pulls, "pulls_url": _cursor_url() if user.has_perm(VIEW_CURSORS) else None,
        "pending_url": _outbox_url(state="pending") if links else None,
        "dead_url": _outbox_url(state="dead") if links else None,
    }


def _age(delta):
    """"45 s", "1h 05m", as the dashboard says ages; None for none."""
    if delta is None:
        return None
    return f"{max(int(delta.total_seconds()), 0)} s" if delta < timedelta(minutes=1) else countdown(delta)


def _cursor_url():
    try:
        return reverse("admin:crm_crmcursor_changelist")
    except NoReverseMatch:
        return None
