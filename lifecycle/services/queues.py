"""Working the queues: agents claim, release and resolve; managers assign, reassign, dismiss, rebalance.

Who may act: an agent acts on exceptions in the queues of their own teams, or assigned to them;
managers (assign/dismiss permissions) act on any queue, the managers' queue included.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from lifecycle.models import (
    OPEN_STATUSES,
    Agent,
    Customer,
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Ownership,
)
from lifecycle.selectors.queues import waiting_customers
from lifecycle.services import timeline
from lifecycle.services.assignment import (
    agent_for,
    claim_locked,
    customer_assign,
    customer_claim,
)
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.exceptions import exception_closed
from lifecycle.services.room import room_made

ASSIGN = "lifecycle.assign_exceptioncase"
DISMISS = "lifecycle.dismiss_exceptioncase"
UNASSIGNED = ExceptionKind.UNASSIGNED_CUSTOMER


class NothingToClaim(ServiceError):
    pass


@dataclass(frozen=True)
class Claimed:
    """What claim_next gave: a customer (now the agent's) or an exception (now claimed by them)."""

    customer: Customer | None = None
    exception: ExceptionCase | None = None


def _may_work(actor, exception, agent=None):
    if actor.has_perm(ASSIGN):
        return True
    agent = agent or agent_for(actor)
    return exception.assignee_id == agent.pk or (
        exception.queue_id is not None and agent.teams.filter(pk=exception.queue_id).exists()
    )


def _locked(exception):
    return ExceptionCase.objects.select_for_update(of=("self",)).select_related("customer").get(pk=exception.pk)


def _refuse_unless_open(exception, verb):
    if exception.status not in OPEN_STATUSES:
        raise ServiceError(f"This exception is {exception.get_status_display().lower()}; it cannot be {verb}.")


def claim_next(*, actor):
    """Give the agent the item due first in their teams: a customer waiting for an agent (it
    becomes theirs, and its `unassigned_customer` clock stops) or an open, unclaimed exception
    (managers: of any queue). SKIP LOCKED: two agents pressing "claim next" together get two
    different items, and neither waits for the other."""
    agent = agent_for(actor)
    team_ids = list(agent.teams.values_list("pk", flat=True))
    with transaction.atomic():
        customer = (waiting_customers(team_ids).select_for_update(skip_locked=True, of=("self",)).first()
                    if team_ids else None)
        # A waiting customer's clock is claimed with the customer, above.
        exceptions = _unclaimed().exclude(kind=UNASSIGNED)
        if not actor.has_perm(ASSIGN):
            exceptions = exceptions.filter(queue_id__in=team_ids)
        exception = (exceptions.order_by("due_at", "opened_at", "id")
                     .select_for_update(skip_locked=True, of=("self",)).first())
        if customer is None and exception is None:
            raise NothingToClaim("Nothing to claim: no customer waits for an agent and your teams' queues are empty.")
        if exception is None or (customer is not None and _due_first(customer, exception)):
            claim_locked(customer, agent, actor)
            return Claimed(customer=customer)
        return Claimed(exception=_claim(exception, agent, actor))


def _unclaimed():
    return ExceptionCase.objects.filter(status=ExceptionStatus.OPEN, assignee__isnull=True)


def _due_first(customer, exception):
    if customer.due_at is None:  # no clock runs (its exception was dismissed): after every timed item
        return False
    return (customer.due_at, customer.waiting_since) <= (exception.due_at, exception.opened_at)


def exception_claim(*, exception, actor):
    """Claim an exception of my teams' queues. Claiming "customer without an agent" claims the
    customer: it becomes mine, and the exception resolves because it has an agent now."""
    agent = agent_for(actor)
    with transaction.atomic():
        if exception.kind == UNASSIGNED and exception.customer_id:
            customer_claim(customer=exception.customer, actor=actor)
            return ExceptionCase.objects.get(pk=exception.pk)
        exception = _locked(exception)
        if not _may_work(actor, exception, agent):
            raise PermissionDenied("You can only claim exceptions in your own teams' queues.")
        if exception.status != ExceptionStatus.OPEN or (exception.assignee_id not in (None, agent.pk)):
            raise ServiceError("Someone else has already claimed this exception.")
        return _claim(exception, agent, actor)


def _claim(exception, agent, actor):
    exception.claim()
    exception.assignee, exception.claimed_at = agent, timezone.now()
    exception.save()
    timeline.record_exception_claimed(exception=exception, actor=actor)
    return exception


def exception_release(*, exception, actor):
    """Put a claimed exception back in its queue, unassigned."""
    with transaction.atomic():
        exception = _locked(exception)
        if not _may_work(actor, exception):
            raise PermissionDenied("You can only release exceptions you work on.")
        if exception.status != ExceptionStatus.IN_PROGRESS:
            raise ServiceError("Only a claimed exception can be released.")
        exception.release()
        exception.assignee, exception.claimed_at = None, None
        exception.save()
        timeline.record_exception_released(exception=exception, actor=actor)
    return exception


def exception_close(*, exception, actor, reason, dismiss=False, agent=None):
    """Resolve (the problem was fixed) or dismiss (it was not a problem; managers only). Both need a reason.

    "Customer without an agent" is resolved only by giving the customer one: a manager chooses
    `agent`, who takes the customer, and the exception closes because the customer has an agent
    now. Dismissed, it closes and the customer stays in its team's waiting line, claimable.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why: a closed exception needs a reason.")
    if dismiss and not actor.has_perm(DISMISS):
        raise PermissionDenied("Only managers can dismiss exceptions.")
    if exception.kind == UNASSIGNED and not dismiss and _still_waiting(exception):
        return _give_agent(exception, agent, actor, reason)
    with transaction.atomic():
        exception = _locked(exception)
        if not _may_work(actor, exception):
            raise PermissionDenied("You can only resolve exceptions in your own teams' queues.")
        _refuse_unless_open(exception, "dismissed" if dismiss else "resolved")
        exception.dismiss() if dismiss else exception.resolve()
        exception.resolution_reason, exception.closed_at = reason, timezone.now()
        exception.save()
        if exception.customer_id:
            timeline.record_exception_resolved(exception=exception, actor=actor)
        exception_closed(exception, actor)  # e.g. the CRM pushes the console's owner back
        if exception.assignee_id:
            room_made(agent_ids=[exception.assignee_id])  # their load fell
    return exception


def _still_waiting(exception):
    return bool(exception.customer_id) and Ownership.objects.filter(
        customer_id=exception.customer_id, agent__isnull=True).exists()


def _give_agent(exception, agent, actor, reason=""):
    """Close "customer without an agent" the only way it closes: the customer gets `agent`."""
    _refuse_unless_open(exception, "resolved")
    if not actor.has_perm(ASSIGN):
        raise PermissionDenied("Claim the customer to become their agent; only a manager gives them to someone else.")
    if agent is None:
        raise ServiceError("Choose the agent who takes the customer: the exception closes when the customer has one.")
    customer_assign(customer=exception.customer, agent=agent, actor=actor, reason=reason)
    return ExceptionCase.objects.get(pk=exception.pk)


def exception_assign(*, exception, agent, actor):
    """A manager gives the exception to an agent of its queue's team (any agent for the managers' queue).
    Assigning "customer without an agent" gives the agent the customer, which closes it."""
    if not actor.has_perm(ASSIGN):
        raise PermissionDenied("Only managers can assign exceptions.")
    if not agent.user.is_active:
        raise ServiceError(f"{agent} is deactivated.")
    if exception.kind == UNASSIGNED and _still_waiting(exception):
        return _give_agent(exception, agent, actor)
    with transaction.atomic():
        exception = _locked(exception)
        _refuse_unless_open(exception, "assigned")
        if exception.queue_id and not agent.teams.filter(pk=exception.queue_id).exists():
            raise ServiceError(f"{agent} is not in the {exception.queue} team that owns this exception.")
        if exception.status == ExceptionStatus.OPEN:
            exception.claim()
            exception.claimed_at = timezone.now()
        exception.assignee = agent
        exception.save()
        timeline.record_exception_assigned(exception=exception, actor=actor)
    return exception


def exceptions_reassign(*, exceptions, agent, actor):
    """Bulk reassignment; returns (assigned, refused) where refused maps exception id → reason."""
    assigned, refused = [], {}
    for exception in exceptions:
        try:
            assigned.append(exception_assign(exception=exception, agent=agent, actor=actor))
        except ServiceError as error:
            refused[exception.pk] = str(error)
    return assigned, refused


def queue_rebalance(*, team, actor):
    """Spread the team queue's open exceptions over its available agents, fewest items first.

    Returns {agent id: number of exceptions given}. Unavailable and deactivated agents get none and
    lose what they held back to the spread.
    """
    if not actor.has_perm(ASSIGN):
        raise PermissionDenied("Only managers can rebalance a queue.")
    agents = list(Agent.objects.filter(teams=team, is_available=True, user__is_active=True).order_by("pk"))
    if not agents:
        raise ServiceError(f"{team} has no available agent to rebalance onto.")
    # A waiting customer's clock is not an exception anyone works: the customer is assigned instead.
    items = list(ExceptionCase.objects.filter(queue=team, status__in=OPEN_STATUSES).exclude(kind=UNASSIGNED)
                 .order_by("due_at", "opened_at"))
    share, extra = divmod(len(items), len(agents))
    plan = {a.pk: share + (1 if i < extra else 0) for i, a in enumerate(agents)}
    keep = {a.pk: 0 for a in agents}
    moves = []
    for item in items:  # keep what each agent already holds, up to their share
        if item.assignee_id in keep and keep[item.assignee_id] < plan[item.assignee_id]:
            keep[item.assignee_id] += 1
        else:
            moves.append(item)
    given = {a.pk: 0 for a in agents}
    by_pk = {a.pk: a for a in agents}
    for item in moves:
        target = min(agents, key=lambda a: (keep[a.pk] + given[a.pk] - plan[a.pk], a.pk)).pk
        exception_assign(exception=item, agent=by_pk[target], actor=actor)
        given[target] += 1
    return given
