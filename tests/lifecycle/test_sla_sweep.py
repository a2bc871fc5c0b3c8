"""SLA clocks in the database: raising takes its due time from the kind's policy and the owning
queue's calendar; the sweep escalates breaches (severity up, managers' queue, a timeline event)."""

import time as wall
from datetime import date, time, timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, ExceptionPolicy, ExceptionStatus, Holiday, TimelineEvent
from lifecycle import config_cache
from lifecycle.services import sla as sla_service
from lifecycle.services import timeline
from lifecycle.services.exceptions import exception_raise, exception_resolve
from lifecycle.services.sla import sla_sweep
from lifecycle.tasks import sweep_sla
from tests.factories import SYSTEM, make_customer, make_order, make_owned_customer, team
from tests.lifecycle.test_sla import at, utc

pytestmark = pytest.mark.django_db
K = ExceptionKind


def freeze(monkeypatch, when):
    """The services read the time through timezone.now(): make it `when`."""
    monkeypatch.setattr(timezone, "now", lambda: when)


def set_calendar(slug, time_zone, work_days=(0, 1, 2, 3, 4), starts=time(9), ends=time(17)):
    t = team(slug)
    t.time_zone, t.work_days, t.day_starts, t.day_ends = time_zone, list(work_days), starts, ends
    t.save()
    return t


def set_policy(kind, **fields):
    policy = ExceptionPolicy.objects.get(kind=kind)
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.save()  # as the admin does: the service's policy cache hears of it


def raise_for(customer, kind, **extra):
    exception, _ = exception_raise(kind=kind, subject_key=f"customer:{customer.pk}", summary=f"{kind} problem",
                                   customer=customer, actor=SYSTEM, **extra)
    return exception


# --- due times from the policy and the right calendar ----------------------------------------------
def test_raised_friday_16h_with_four_business_hours_is_due_monday_noon_in_the_queue_team_zone(monkeypatch):
    # given commerce works Monday–Friday 9–17 in New York, and payment problems go to commerce
    # with a 4-business-hour SLA at high severity
    set_calendar("commerce", "America/New_York")
    set_policy(K.PAYMENT_PROBLEM, queue=team("commerce"), sla_minutes=240, business_hours=True, severity=3)
    customer = make_owned_customer()
    # when one is raised on Friday 5 June 2026 at 16:00 New York time
    freeze(monkeypatch, at("America/New_York", 2026, 6, 5, 16))
    exception = raise_for(customer, K.PAYMENT_PROBLEM)
    # then it is in commerce's queue, high, and due Monday 12:00 New York time (16:00 UTC)
    exception.refresh_from_db()
    assert (exception.queue.slug, exception.severity) == ("commerce", 3)
    assert exception.due_at == at("America/New_York", 2026, 6, 8, 12) == utc(2026, 6, 8, 16)
    assert exception.opened_at == utc(2026, 6, 5, 20)


def test_owner_routed_kinds_use_the_owner_team_calendar_and_fall_back_to_the_policy_queue(monkeypatch):
    # given commerce (owner of purchased customers) works in Tokyo, success in New York, and
    # at-risk goes to the owner team with 8 business hours
    set_calendar("commerce", "Asia/Tokyo")
    set_calendar("success", "America/New_York")
    owned, unowned = make_owned_customer(), make_customer()
    freeze(monkeypatch, utc(2026, 6, 5, 6))  # Friday: 15:00 in Tokyo, 02:00 in New York
    # when both are raised
    in_owner_queue, in_managers_queue = raise_for(owned, K.AT_RISK), raise_for(unowned, K.AT_RISK)
    # then the owned customer's is commerce's: 2 h on Friday + 6 h on Monday in Tokyo
    assert (in_owner_queue.queue_id, in_owner_queue.due_at) == (team("commerce").pk, at("Asia/Tokyo", 2026, 6, 8, 15))
    # and the unowned customer's falls back to the policy's queue: the managers' (site time zone, 9–17)
    assert settings.TIME_ZONE == "UTC"
    assert (in_managers_queue.queue_id, in_managers_queue.due_at) == (None, utc(2026, 6, 5, 17))
    # when the policy names a queue, that is the fallback
    set_policy(K.AT_RISK, queue=team("success"))
    exception_resolve(kind=K.AT_RISK, subject_key=f"customer:{unowned.pk}", reason="test", actor=SYSTEM)
    fallback = raise_for(unowned, K.AT_RISK)
    assert (fallback.queue_id, fallback.due_at) == (team("success").pk, at("America/New_York", 2026, 6, 5, 17))


def test_company_wide_and_team_holidays_move_the_due_time_but_other_teams_holidays_do_not(monkeypatch):
    # given payment problems go to commerce (UTC, Mon–Fri 9–17) with 8 business hours; Monday is
    # a company holiday, Tuesday a commerce holiday and Wednesday a sales holiday
    Holiday.objects.create(team=None, date=date(2026, 6, 8), name="Whit Monday")
    Holiday.objects.create(team=team("commerce"), date=date(2026, 6, 9), name="Commerce offsite")
    Holiday.objects.create(team=team("sales"), date=date(2026, 6, 10), name="Sales kick-off")
    # when one is raised on Friday 13:00
    freeze(monkeypatch, utc(2026, 6, 5, 13))
    exception = raise_for(make_owned_customer(), K.PAYMENT_PROBLEM)
    # then 4 h on Friday and 4 h on Wednesday
    assert exception.queue == team("commerce")
    assert exception.due_at == utc(2026, 6, 10, 13)


def test_wall_clock_policies_ignore_business_hours(monkeypatch):
    # given "no routing rule could pick an owner": 1 h on the wall clock
    freeze(monkeypatch, utc(2026, 6, 6, 3))  # Saturday, 03:00
    exception = raise_for(make_customer(), K.UNOWNED_CUSTOMER)
    assert (exception.queue_id, exception.due_at) == (None, utc(2026, 6, 6, 4))


def test_an_explicit_severity_overrides_the_policy_and_a_repeat_only_raises_it():
    customer = make_owned_customer()
    exception = raise_for(customer, K.STATE_MISMATCH, severity=3)
    assert exception.severity == 3
    assert raise_for(customer, K.STATE_MISMATCH, severity=1).severity == 3
    assert raise_for(customer, K.STATE_MISMATCH, severity=4).severity == 4
    exception.refresh_from_db()
    assert (exception.severity, exception.occurrences) == (4, 3)


# --- the per-process policy and calendar cache ---------------------------------------------------
def test_an_edited_policy_or_calendar_applies_to_the_next_raise(monkeypatch):
    # given a raise that has cached the payment-problem policy and commerce's calendar
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 2, 10)
    # when a manager shortens the SLA and moves commerce to Tokyo
    set_policy(K.PAYMENT_PROBLEM, sla_minutes=60)
    set_calendar("commerce", "Asia/Tokyo")
    # then the next raise uses both: Monday 19:00 in Tokyo is after hours, so Tuesday 10:00 there
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == at("Asia/Tokyo", 2026, 6, 2, 10)


def test_an_edit_made_without_signals_applies_after_the_cache_lifetime(monkeypatch):
    # given a raise that has cached the payment-problem policy
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 2, 10)
    # when the policy changes as another process's edit would look here (no signal in this process)
    ExceptionPolicy.objects.filter(kind=K.PAYMENT_PROBLEM).update(sla_minutes=60)
    # then this process keeps the policy it knows until CACHE_SECONDS have passed, then reloads
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 2, 10)
    later = wall.monotonic() + config_cache.CACHE_SECONDS + 1
    monkeypatch.setattr(sla_service.time, "monotonic", lambda: later)
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 1, 11)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_edit_is_never_served_from_the_cache_and_a_committed_one_is_at_once(monkeypatch):
    # given a policy edit and a raise inside a transaction that is then rolled back
    freeze(monkeypatch, utc(2026, 6, 1, 10))
    with transaction.atomic():
        set_policy(K.PAYMENT_PROBLEM, sla_minutes=60)
        assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 1, 11)
        transaction.set_rollback(True)
    # when the next raise comes
    exception = raise_for(make_owned_customer(), K.PAYMENT_PROBLEM)
    # then it has the committed policy: one business day
    assert exception.due_at == utc(2026, 6, 2, 10)
    # and an edit that commits applies to the raise after it
    set_policy(K.PAYMENT_PROBLEM, sla_minutes=120)
    assert raise_for(make_owned_customer(), K.PAYMENT_PROBLEM).due_at == utc(2026, 6, 1, 12)


# --- the breach sweep --------------------------------------------------------------------------------
NOW = utc(2026, 6, 3, 12)


def given_exception(kind, *, due_in, customer=None, subject=None, **extra):
    """An exception raised through the service, then given a due time relative to NOW."""
    subject = subject or f"customer:{customer.pk}"
    exception, _ = exception_raise(kind=kind, subject_key=subject, summary=f"{kind} problem", customer=customer,
                                   actor=SYSTEM, **extra)
    ExceptionCase.objects.filter(pk=exception.pk).update(due_at=NOW + due_in)
    return exception


def snapshot(exception):
    return ExceptionCase.objects.filter(pk=exception.pk).values(
        "status", "queue", "escalated_from", "severity", "breached_at", "assignee", "due_at").get()


def test_the_sweep_escalates_open_exceptions_past_due_and_nothing_else():
    # given, at Wednesday 12:00:
    overdue = given_exception(K.PAYMENT_PROBLEM, due_in=-timedelta(hours=1), customer=make_owned_customer())
    critical = given_exception(K.DUPLICATE_CUSTOMER, due_in=-timedelta(minutes=1), customer=make_owned_customer(),
                               severity=4)
    on_the_dot = given_exception(K.STATE_MISMATCH, due_in=timedelta(0), customer=make_owned_customer())
    store_level = given_exception(K.SYNC_FAILURE, due_in=-timedelta(hours=2), subject="store:main")
    claimed = given_exception(K.MISSED_TOUCHPOINT, due_in=-timedelta(days=1), customer=make_owned_customer())
    ExceptionCase.objects.filter(pk=claimed.pk).update(status=ExceptionStatus.IN_PROGRESS)
    not_yet = given_exception(K.OWNERSHIP_CONFLICT, due_in=timedelta(minutes=1), customer=make_owned_customer())
    closed_customer = make_owned_customer()
    closed = given_exception(K.AT_RISK, due_in=-timedelta(days=2), customer=closed_customer)
    exception_resolve(kind=K.AT_RISK, subject_key=f"customer:{closed_customer.pk}", reason="fixed", actor=SYSTEM)
    untouched = {e.pk: snapshot(e) for e in (not_yet, closed)}
    events_before = TimelineEvent.objects.filter(kind="exception_breached").count()

    # when the sweep runs
    breached = sla_sweep(NOW)

    # then the five open ones at or past due are escalated to the managers' queue, one step more severe
    assert breached == 5
    commerce, support = team("commerce").pk, team("support").pk
    assert snapshot(overdue) | {"due_at": None} == {
        "status": "open", "queue": None, "escalated_from": commerce, "severity": 3, "breached_at": NOW,
        "assignee": None, "due_at": None}
    assert (snapshot(critical)["severity"], snapshot(critical)["escalated_from"]) == (4, support)  # capped
    assert (snapshot(on_the_dot)["breached_at"], snapshot(on_the_dot)["queue"]) == (NOW, None)
    # a store-level one was already the managers': nothing to escalate from
    assert (snapshot(store_level)["escalated_from"], snapshot(store_level)["severity"]) == (None, 3)
    assert snapshot(claimed)["status"] == "in_progress"  # still claimed: its agent keeps it
    # and the not-yet-due and the closed ones are untouched
    assert {pk: snapshot(ExceptionCase(pk=pk)) for pk in untouched} == untouched
    # and each breached exception with a customer has one timeline event
    events = TimelineEvent.objects.filter(kind="exception_breached").order_by("data__exception_id")
    assert events.count() - events_before == 4
    event = TimelineEvent.objects.get(kind="exception_breached", data__exception_id=overdue.pk)
    assert (event.customer_id, event.occurred_at, event.actor_kind) == (overdue.customer_id, NOW, "task")
    assert event.data | {"due_at": None} == {"exception_id": overdue.pk, "kind": "payment_problem", "severity": 3,
                                             "escalated_from_id": commerce, "due_at": None}
    assert "managers' queue" in event.summary and "high" in event.summary


def test_a_second_sweep_changes_nothing_and_a_later_one_takes_what_fell_due_since():
    # given one exception swept at NOW, and another due one minute later
    swept = given_exception(K.PAYMENT_PROBLEM, due_in=-timedelta(hours=1), customer=make_owned_customer())
    later = given_exception(K.AT_RISK, due_in=timedelta(minutes=1), customer=make_owned_customer())
    assert sla_sweep(NOW) == 1
    state, events = snapshot(swept), TimelineEvent.objects.filter(kind="exception_breached").count()
    # when the sweep runs again at the same time
    assert sla_sweep(NOW) == 0
    # then nothing changed: no second escalation, no second event
    assert snapshot(swept) == state
    assert TimelineEvent.objects.filter(kind="exception_breached").count() == events
    # and two minutes later only the newly due one is escalated
    assert sla_sweep(NOW + timedelta(minutes=2)) == 1
    assert snapshot(later)["breached_at"] == NOW + timedelta(minutes=2)
    assert snapshot(swept) == state


def test_a_breached_exception_that_recurs_after_closing_is_reopened_with_a_clean_slate(monkeypatch):
    # given an at-risk exception of a commerce-owned customer, breached and escalated, then dismissed
    customer = make_owned_customer()
    first = given_exception(K.AT_RISK, due_in=-timedelta(hours=1), customer=customer)
    sla_sweep(NOW)
    exception_resolve(kind=K.AT_RISK, subject_key=f"customer:{customer.pk}", reason="handled", actor=SYSTEM)
    # when the condition recurs on Thursday 10:00
    freeze(monkeypatch, utc(2026, 6, 4, 10))
    reopened, opened = exception_raise(kind=K.AT_RISK, subject_key=f"customer:{customer.pk}", summary="again",
                                       customer=customer, actor=SYSTEM)
    # then the same record is back in its owner team's queue, unbreached, at the policy severity,
    # with a fresh one-business-day clock
    assert opened and reopened.pk == first.pk
    assert snapshot(reopened) == {"status": "open", "queue": team("commerce").pk, "escalated_from": None,
                                  "severity": 2, "breached_at": None, "assignee": None,
                                  "due_at": utc(2026, 6, 5, 10)}
    assert ExceptionCase.objects.filter(subject_key=f"customer:{customer.pk}", kind=K.AT_RISK).count() == 1
    assert TimelineEvent.objects.filter(kind="exception_reopened", data__exception_id=first.pk).count() == 1


def test_the_beat_task_sweeps_every_minute():
    # given an exception past due
    due = given_exception(K.PAYMENT_PROBLEM, due_in=-timedelta(days=3650), customer=make_owned_customer())
    ExceptionCase.objects.filter(pk=due.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    # when the beat's task runs
    assert sweep_sla() == 1
    # then it is escalated, and the beat runs the task every 60 seconds
    assert snapshot(due)["breached_at"] is not None
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-sla"]
    assert (entry["task"], entry["schedule"]) == ("lifecycle.tasks.sweep_sla", 60.0)


@pytest.mark.postgres
def test_the_sweep_sql_writes_exactly_the_event_the_python_builder_describes():
    # given a long, non-ASCII summary, an order, and a due time with microseconds
    customer = make_owned_customer()
    order = make_order(customer)
    exception, _ = exception_raise(kind=K.STATE_MISMATCH, subject_key=f"order:{order.pk}", customer=customer,
                                   order=order, summary="Größe " + "x" * 290, actor=SYSTEM)
    ExceptionCase.objects.filter(pk=exception.pk).update(due_at=NOW - timedelta(microseconds=1234))
    # when PostgreSQL's sweep writes the event in SQL
    assert sla_sweep(NOW) == 1
    written = TimelineEvent.objects.get(kind="exception_breached", data__exception_id=exception.pk)
    # then it is field for field what the Python builder (the SQLite path) builds for the same row
    [built] = timeline.build_exception_breached_events(
        breaches=[ExceptionCase.objects.get(pk=exception.pk)], actor=Actor.task("sweep_sla"), breached_at=NOW)
    fields = ["customer_id", "order_id", "kind", "source", "summary", "data", "occurred_at", "actor_kind",
              "actor_user_id", "actor_ref"]
    assert {f: getattr(written, f) for f in fields} == {f: getattr(built, f) for f in fields}
    assert len(written.summary) <= 300 and written.data["due_at"].endswith(".998766+00:00")
