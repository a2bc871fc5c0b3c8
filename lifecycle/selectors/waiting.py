"""Why an order waits: the status its own system reports has no mapping, so its canonical state
stays where it was (DOMAIN.md, invariant 3) until a manager maps that status.

Such an order is tracked by no exception of its own: the one `unmapped_status` exception of its
system, namespace and status (subject `lifecycle.statuses.unmapped_subject`, no customer) tracks
every order waiting on that status. The customer screen and the read API find those exceptions for
a whole page of orders in one query. Whether a status is unmapped is the caller's status
interpreter's answer (the mappings live with the integrations); this module never looks one up.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Value

from lifecycle import statuses
from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionKind
from lifecycle.selectors.visibility import exceptions_visible_to

# The only reason an order waits today; named as the exception kind that tracks it.
UNMAPPED_STATUS = ExceptionKind.UNMAPPED_STATUS.value
SEE_EXCEPTIONS = "lifecycle.view_exceptioncase"
_TRACKER_FIELDS = ("id", "kind", "subject_key", "summary", "status", "due_at", "queue__slug", "queue__name")


@dataclass
class Waiting:
    reason: str  # UNMAPPED_STATUS
    system: str  # the order's own system, whose status has no mapping
    raw_status: str  # as that system reported it
    subject_key: str  # of the unmapped_status exception that tracks it
    # The open exception tracking it (queue loaded), when one is open and the user may read exceptions.
    exception: ExceptionCase | None = None
    exception_visible: bool = False  # whether the user may open that exception (visibility.py)


def waiting_for(order, state, meaning):
    """A Waiting when `state` is the order's own system's source state and `meaning` (a status
    interpreter's answer for it) is unmapped; None otherwise."""
    if meaning != statuses.UNMAPPED or state.system != order.system:
        return None
    return Waiting(UNMAPPED_STATUS, state.system, state.raw_status,
                   statuses.unmapped_subject(state.system, order.namespace, state.raw_status))


def attach_trackers(user, waiting):
    """Set each Waiting's open exception and whether the user may open it: one query for them all,
    none when nothing waits or the user's role may not read exceptions (operations).

    A closed (resolved, dismissed) exception tracks nothing: the order still waits while its status
    stays unmapped, and the note says no exception is open.
    """
    waiting = [w for w in waiting if w is not None]
    if not waiting or not user.has_perm(SEE_EXCEPTIONS):
        return waiting
    visible = exceptions_visible_to(user, ExceptionCase.objects.filter(pk=OuterRef("pk")))
    open_ones = (
        ExceptionCase.objects.filter(kind=UNMAPPED_STATUS, subject_key__in={w.subject_key for w in waiting},
                                     status__in=OPEN_STATUSES)
        .select_related("queue").only(*_TRACKER_FIELDS)
        .annotate(visible=Value(False) if visible.query.is_empty() else Exists(visible))
    )
    by_subject = {item.subject_key: item for item in open_ones}
    for w in waiting:
        w.exception = by_subject.get(w.subject_key)
        w.exception_visible = bool(w.exception and w.exception.visible)
    return waiting
