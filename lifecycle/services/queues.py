"""Working the queues: agents claim, release and resolve; managers assign, reassign, dismiss, rebalance.

Who may act: an agent acts on exceptions in the queues of their own teams, or assigned to them;
managers (assign/dismiss permissions) act on any queue, the managers' queue included.
"""

from django.db import transaction
from django.utils import timezone

from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, ExceptionKind, ExceptionStatus
from lifecycle.services import timeline
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.ownership import ownership_transfer

ASSIGN = "lifecycle.assign_exceptioncase"
DISMISS = "lifecycle.dismiss_exceptioncase"


class NothingToClaim(ServiceError):
    pass


def agent_for(actor):
    agent = Agent.objects.filter(user=actor.user).prefetch_related("teams").first() if actor.is_user else None
    if agent is None:
        raise PermissionDenied("Only agents work queues: your user has no agent profile.")
    return agent


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


def exception_claim_next(*, actor):
    """Give the agent the oldest open, unassigned exception of their teams' queues (managers: any)."""
    agent = agent_for(actor)
    with transaction.atomic():
        candidates = ExceptionCase.objects.filter(status=ExceptionStatus.OPEN, assignee__isnull=True)
        if not actor.has_perm(ASSIGN):
            candidates = candidates.filter(queue__in=agent.teams.all())
        # SKIP LOCKED: two agents pressing "claim next" together get two different items, no waiting.
        exception = (
            candidates.order_by("due_at", "opened_at", "id").select_for_update(skip_locked=True, of=("self",)).first()
        )
        if exception is None:
            raise NothingToClaim("Nothing to claim: your queues are empty.")
        return _claim(exception, agent, actor)


def exception_claim(*, exception, actor):
    agent = agent_for(actor)
    with transaction.atomic():
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
    if exception.kind == ExceptionKind.UNASSIGNED_CUSTOMER and exception.customer_id:
        _take_customer(exception, agent, actor)
    timeline.record_exception_claimed(exception=exception, actor=actor)
    return exception


def _take_customer(exception, agent, actor):
    """Claiming "customer has no agent" makes the claimer the customer's agent, when in the team."""
    owner = exception.customer.ownership
    if agent.teams.filter(pk=owner.team_id).exists():
        ownership_transfer(customer=exception.customer, team=owner.team, agent=agent, actor=actor,
                           reason="Claimed from the unassigned queue", rule="claim")


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


def exception_close(*, exception, actor, reason, dismiss=False):
    """Resolve (the problem was fixed) or dismiss (it was not a problem; managers only). Both need a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why: a closed exception needs a reason.")
    if dismiss and not actor.has_perm(DISMISS):
        raise PermissionDenied("Only managers can dismiss exceptions.")
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
    return exception


def exception_assign(*, exception, agent, actor):
    """A manager gives the exception to an agent of its queue's team (any agent for the managers' queue)."""
    if not actor.has_perm(ASSIGN):
        raise PermissionDenied("Only managers can assign exceptions.")
    if not agent.user.is_active:
        raise ServiceError(f"{agent} is deactivated.")
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
    items = list(ExceptionCase.objects.filter(queue=team, status__in=OPEN_STATUSES).order_by("due_at", "opened_at"))
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
