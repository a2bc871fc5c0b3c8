"""Raising and resolving exceptions: at most one open per (kind, subject), enforced by the database.

Raising is safe to repeat: while one is open, a new raise updates its evidence and counts the
occurrence instead of opening another. Resolvers close their own kind when the condition clears.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionKind, Ownership, Team
from lifecycle.services import timeline

K = ExceptionKind
# DOMAIN.md's default queue per kind: a team slug, "owner" (the subject customer's owning team) or
# None (the managers' queue). SLA in hours; business-hour calendars replace these with the queues issue.
DEFAULTS = {
    K.UNOWNED_CUSTOMER: (None, 1),
    K.UNASSIGNED_CUSTOMER: (None, 4),
    K.OWNERSHIP_CONFLICT: ("owner", 8),
    K.STATE_MISMATCH: ("owner", 8),
    K.UNMAPPED_STATUS: (None, 8),
    K.MISSED_TOUCHPOINT: ("owner", 8),
    K.DUPLICATE_CUSTOMER: ("support", 16),
    K.SYNC_FAILURE: (None, 4),
    K.AT_RISK: ("owner", 8),
    K.PAYMENT_PROBLEM: ("commerce", 8),
}


def _queue_for(kind, customer):
    queue, _ = DEFAULTS[kind]
    if queue == "owner":
        owner = Ownership.objects.filter(customer=customer).select_related("team").first() if customer else None
        return owner.team if owner else None
    return Team.objects.filter(slug=queue).first() if queue else None


def exception_raise(*, kind, subject_key, summary, actor, evidence=None, customer=None, order=None):
    """Open the (kind, subject) exception, or refresh the open one; returns (exception, opened)."""
    evidence = evidence or {}
    with transaction.atomic():
        current = (
            ExceptionCase.objects.select_for_update()
            .filter(kind=kind, subject_key=subject_key, status__in=OPEN_STATUSES)
            .first()
        )
        if current is None:
            try:
                with transaction.atomic():
                    _, hours = DEFAULTS[kind]
                    current = ExceptionCase.objects.create(
                        kind=kind, subject_key=subject_key, summary=summary[:300], evidence=evidence,
                        customer=customer, order=order, queue=_queue_for(kind, customer),
                        due_at=timezone.now() + timedelta(hours=hours),
                    )
            except IntegrityError:
                # Another raise opened it between our look and our insert: refresh that one instead.
                current = ExceptionCase.objects.select_for_update().get(
                    kind=kind, subject_key=subject_key, status__in=OPEN_STATUSES
                )
            else:
                if customer is not None:
                    timeline.record_exception_opened(exception=current, actor=actor)
                return current, True
        current.evidence = evidence
        current.summary = summary[:300]
        current.occurrences += 1
        current.save(update_fields=["evidence", "summary", "occurrences", "updated_at"])
    return current, False


def exception_resolve(*, kind, subject_key, reason, actor):
    """Close the open (kind, subject) exception because its condition cleared; None if none is open."""
    with transaction.atomic():
        current = (
            ExceptionCase.objects.select_for_update()
            .filter(kind=kind, subject_key=subject_key, status__in=OPEN_STATUSES)
            .first()
        )
        if current is None:
            return None
        current.resolve()
        current.resolution_reason = reason
        current.closed_at = timezone.now()
        current.save(update_fields=["status", "resolution_reason", "closed_at", "updated_at"])
        if current.customer_id:
            timeline.record_exception_resolved(exception=current, actor=actor)
    return current
