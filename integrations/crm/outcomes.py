"""What a delivery records of a batch that did not simply land, for contacts and deals alike: the
retries, the dead letters, the messages set aside, and a connection HubSpot refused.

- retryable errors (5xx, timeouts, unreachable): the batch's messages count an attempt and wait
  BACKOFF doubling; after MAX_ATTEMPTS they are dead letters. A 429 waits its window and counts no
  attempt: it is pacing, not the messages' failure;
- a refused token or scope: `sync_failure` at once with the adapter's sentence, and the connection
  reads as refused; every due message waits, uncounted, until a check passes (or ACCESS_WAIT passes);
- an item HubSpot refused, or an error no retry can help: dead letters at once, with its sentence.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import F

from integrations.crm import failures
from integrations.crm.models import CrmConnection, OutboundMessage

M = OutboundMessage.State
# Twelve attempts with the backoff below span about six hours: HubSpot's longest incidents pass in
# that; a change still refused after them needs a person (a dead letter and its sync_failure).
MAX_ATTEMPTS = 12
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
RATE_LIMIT_WAIT = timedelta(seconds=10)  # a 429 without Retry-After: HubSpot's rolling window
ACCESS_WAIT = timedelta(minutes=15)  # a refused token is tried again after this (at once when checked)
OWNER_WAIT = timedelta(minutes=15)  # an owner change whose agent has no HubSpot owner waits this long


@dataclass
class Delivery:
    """What a run did, counted in messages."""

    delivered: int = 0
    superseded: int = 0
    skipped: int = 0
    parked: int = 0
    retrying: int = 0
    dead: int = 0
    batches: int = 0
    resent: int = 0  # stages HubSpot ignored, due again as backward moves
    busy: bool = False  # another run holds the connection
    more: bool = False  # messages are due still: run again
    stopped: str = ""  # the error that ended the run early
    missing_agents: set = field(default_factory=set)


def backoff(attempts):
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def pending(connection):
    return OutboundMessage.objects.filter(connection=connection, state=M.PENDING)


def set_aside(skipped, parked, now, report, cause_parked=""):
    """Messages nothing of which can be sent (skipped: (message, cause, why)) and messages that wait
    for something a person fixes (parked: (message, why), waiting OWNER_WAIT)."""
    with transaction.atomic():
        for message, cause, why in skipped:
            OutboundMessage.objects.filter(pk=message.pk, state=M.PENDING).update(
                state=M.SKIPPED, error_kind=cause, last_error=why)
        if parked:
            OutboundMessage.objects.filter(pk__in=[m.pk for m, _ in parked], state=M.PENDING).update(
                next_attempt_at=now + OWNER_WAIT, error_kind=cause_parked, last_error=parked[0][1])
    report.skipped += len(skipped)
    report.parked += len(parked)


def failed(connection, messages, error, actor, report, now):
    """A batch's call raised CrmError (after the adapter's own retries); False when the run must stop."""
    report.stopped = error.message
    with transaction.atomic():
        if error.kind in ("auth", "scope"):
            # The connection's problem, not the messages': every due one waits, uncounted, for a check.
            pending(connection).filter(next_attempt_at__lte=now).update(
                next_attempt_at=now + ACCESS_WAIT, error_kind=error.kind, last_error=error.message)
            CrmConnection.objects.filter(pk=connection.pk).update(check_ok=False, checked_at=now,
                                                                  check_message=error.message)
            failures.access_failure_raise(connection=connection, error=error, actor=actor)
            return False
        if not error.retryable:
            dead(connection, [m.pk for m in messages], error.kind, error.message, actor, report)
            report.stopped = ""
            return True  # this batch's contents were refused; the next batch may go
        retry(connection, messages, error.kind, error.message, now, actor, report,
              wait=timedelta(seconds=error.retry_after) if error.retry_after else None)
    return False


def retry(connection, messages, cause, why, now, actor, report, wait=None):
    """Count an attempt (none for a 429) and wait; messages past MAX_ATTEMPTS become dead letters."""
    if cause == "rate_limit":
        pending(connection).filter(pk__in=[m.pk for m in messages]).update(
            next_attempt_at=now + (wait or RATE_LIMIT_WAIT), error_kind=cause, last_error=why)
        report.retrying += len(messages)
        return
    final = [m.pk for m in messages if m.attempts + 1 >= MAX_ATTEMPTS]
    by_attempts = {}
    for m in messages:
        if m.attempts + 1 < MAX_ATTEMPTS:
            by_attempts.setdefault(m.attempts + 1, []).append(m.pk)
    for attempts, ids in by_attempts.items():
        pending(connection).filter(pk__in=ids).update(
            attempts=attempts, next_attempt_at=now + (wait or backoff(attempts)), error_kind=cause, last_error=why)
    report.retrying += sum(len(ids) for ids in by_attempts.values())
    if final:
        dead(connection, final, cause, why, actor, report)


def dead(connection, ids, cause, why, actor, report):
    count = pending(connection).filter(pk__in=ids).update(state=M.DEAD, attempts=F("attempts") + 1,
                                                          error_kind=cause, last_error=why)
    report.dead += count
    if count:
        failures.dead_letters_raise(connection=connection, cause=cause, error=why, actor=actor)


def delivered(connection, ids, now):
    """Messages the CRM took: done, their attempt counted, their last error cleared."""
    OutboundMessage.objects.filter(pk__in=ids, state=M.PENDING).update(
        state=M.DELIVERED, delivered_at=now, attempts=F("attempts") + 1, last_error="", error_kind="")
