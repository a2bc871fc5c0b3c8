"""SLA clocks: the policy and calendar behind an exception's due time (counted in business time by
lifecycle/business_time.py), and the breach sweep.

The managers' queue (an exception without a team) has no Team row and so no calendar of its own:
it keeps a team's default hours (Team's field defaults: Monday–Friday 09:00–17:00) in the site's
TIME_ZONE setting, with the company-wide holidays.

Policies and calendars are read on every raise and almost never change, so each process keeps
them (see lifecycle/config_cache.py): an edit saved in this process applies at once, one saved in another
process (the admin's, seen by a worker) within CACHE_SECONDS.
"""

import time
from collections import namedtuple
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Least
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from lifecycle import business_time
from lifecycle.config_cache import ConfigCache
from lifecycle.db import exceptions as exception_rows
from lifecycle.actors import Actor
from lifecycle.defaults import EXCEPTION_POLICIES
from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionPolicy, Holiday, Severity, Team, TimelineEvent
from lifecycle.services import timeline

# Events per INSERT on the portable path: few statements, and far below SQLite's variable limit.
EVENT_BATCH = 500
CALENDAR_FIELDS = {"time_zone", "work_days", "day_starts", "day_ends"}


# Read through time.monotonic here, so a test can move this module's clock.
_cache = ConfigCache("policy", "calendar", clock=lambda: time.monotonic())


@receiver([post_save, post_delete], sender=ExceptionPolicy)
@receiver([post_save, post_delete], sender=Holiday)
@receiver([post_save, post_delete], sender=Team)
def _config_changed(sender, update_fields=None, **kwargs):
    if sender is Team and update_fields and not CALENDAR_FIELDS & set(update_fields):
        return  # a round-robin counter or a name: no calendar changed
    _cache.changed()


def policy_for(kind):
    """The kind's ExceptionPolicy; a kind whose row was deleted falls back to the shipped default."""
    return _cache.get("policy", kind, _load_policy)


def calendar_for(team_id):
    """The business calendar of a team's queue, or of the managers' queue for None."""
    return _cache.get("calendar", team_id, _load_calendar)


def _load_policy(kind):
    policy = ExceptionPolicy.objects.filter(kind=kind).first()
    if policy is None:
        queue, to_owner, minutes, business = EXCEPTION_POLICIES[kind]
        policy = ExceptionPolicy(kind=kind, route_to_owner_team=to_owner, sla_minutes=minutes,
                                 business_hours=business,
                                 queue=Team.objects.filter(slug=queue).first() if queue else None)
    return policy


def _load_calendar(team_id):
    holidays = Holiday.objects.filter(Q(team__isnull=True) | Q(team_id=team_id) if team_id else Q(team__isnull=True))
    dates = frozenset(holidays.values_list("date", flat=True))
    team = Team.objects.filter(pk=team_id).values("time_zone", "work_days", "day_starts", "day_ends").first() \
        if team_id else None
    if team is None:
        field = Team._meta.get_field
        return business_time.BusinessCalendar(
            time_zone=settings.TIME_ZONE, work_days=field("work_days").get_default(),
            day_starts=field("day_starts").get_default(), day_ends=field("day_ends").get_default(), holidays=dates,
        )
    return business_time.BusinessCalendar(holidays=dates, **team)


def due_at(policy, queue_id, start, minutes=None):
    """When an exception opened at `start` in `queue_id` under `policy` is due: `minutes` (the
    policy's SLA unless given) later, counted in the queue's business hours when the policy says so."""
    minutes = policy.sla_minutes if minutes is None else minutes
    if not policy.business_hours:
        return start + timedelta(minutes=minutes)
    return business_time.add_business_minutes(start, minutes, calendar_for(queue_id))


# One escalated exception, as the SQLite path hands it to build_exception_breached_events.
Breach = namedtuple("Breach", "id kind summary customer_id order_id severity escalated_from_id due_at")


def sla_sweep(now=None, *, actor=None):
    """Escalate every open exception that is past due and not yet breached; return how many.

    Escalation: breached_at = now, severity one step up (at most critical), the exception moves to
    the managers' queue (queue empty) and remembers the team queue it left in escalated_from; it
    stays open, and its assignee (if claimed) keeps working it. One `exception_breached` event per
    escalated exception that has a customer, in the same transaction.

    Rerunning is a no-op: an escalated exception has breached_at set and is no longer selected, so a
    second sweep, or two overlapping ones, escalates nothing twice and writes no second event.
    """
    now = now or timezone.now()
    actor = actor or Actor.task("sweep_sla")
    if connection.vendor == "postgresql":
        return _sweep_in_one_statement(now, actor)
    with transaction.atomic():
        breaches = _escalate_two_step(now)
        events = timeline.build_exception_breached_events(breaches=breaches, actor=actor, breached_at=now)
        TimelineEvent.objects.bulk_create(events, batch_size=EVENT_BATCH)
    return len(breaches)


def _sweep_in_one_statement(now, actor):
    """PostgreSQL: UPDATE … RETURNING feeds the timeline's INSERT … SELECT, in one statement
    (lifecycle/db/exceptions.py)."""
    insert_events = timeline.exception_breached_insert_sql(source=exception_rows.ESCALATED, actor=actor,
                                                           breached_at=now)
    return exception_rows.escalate_due(now, insert_events)


def _escalate_two_step(now):
    """Elsewhere (SQLite): read the due rows, then one UPDATE with the same filter.

    Both run in the sweep's transaction, which on SQLite holds the write lock from its start
    (IMMEDIATE), so no row can become due or be escalated between the two statements.
    """
    due = ExceptionCase.objects.filter(status__in=OPEN_STATUSES, breached_at__isnull=True, due_at__lte=now)
    rows = list(due.values_list("id", "kind", "summary", "customer_id", "order_id", "severity", "queue_id",
                                "escalated_from_id", "due_at"))
    due.update(breached_at=now, updated_at=now, severity=Least(F("severity") + 1, Severity.CRITICAL),
               escalated_from=Coalesce(F("queue"), F("escalated_from")), queue=None)
    return [
        Breach(pk, kind, summary, customer_id, order_id, min(severity + 1, Severity.CRITICAL),
               queue_id or escalated_from_id, due)
        for pk, kind, summary, customer_id, order_id, severity, queue_id, escalated_from_id, due in rows
    ]
