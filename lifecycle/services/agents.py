"""Re-routing an agent's work: deactivating an agent, or marking them away, hands their customers
and open exceptions on by the same routing rules, or to a manager's choice.

First the flag is set and committed, under the row locks of the agent's teams: routing into a team
waits for that lock and then reads the flag, so once it commits nobody routes to the agent again
and the moves below cannot miss a customer given to them at the last moment. Then each customer
and each exception moves in its own transaction: no long lock on a team, and a run that fails
midway is finished by calling again (what already moved is no longer the agent's).
"""

from collections import Counter
from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from lifecycle import rules
from lifecycle.selectors import routing as selectors
from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, ExceptionStatus, Team
from lifecycle.services import timeline
from lifecycle.services.errors import InvalidOwner, PermissionDenied
from lifecycle.services.room import room_made
from lifecycle.services.routing import choose_agent_locked, reroute_customer

CHANGE_AGENT = "lifecycle.change_agent"
AWAY, DEACTIVATED = "agent away", "agent deactivated"
# An exception in the managers' queue has no team whose mode could pick an agent: it goes to the
# manager's choice, else back to the queue unassigned.
MANAGERS_QUEUE = "managers_queue"


@dataclass(frozen=True)
class Move:
    """One planned or made move of the agent's work, as a confirm page or a report lists it."""

    kind: str  # "customer" or "exception"
    object_id: int  # the customer's or the exception's id
    team_id: int | None  # the owning team, or the exception's queue (None: the managers' queue)
    to_agent_id: int | None  # None: the team (or the queue) holds it unassigned
    rule: str
    skipped: dict
    fallback: str | None = None


def agent_deactivate(*, agent, actor, reassign_to=None):
    """Deactivate the agent's login and hand every customer and open exception of theirs on.

    Returns the moves made. Afterwards no customer is owned by the agent and no open exception
    is assigned to them (closed ones keep their history).
    """
    if not actor.has_perm(CHANGE_AGENT):
        raise PermissionDenied("Only managers can deactivate an agent.")
    _check_successor(agent, reassign_to)
    _set_flags(agent, is_active=False)
    return _hand_on(agent, reassign_to=reassign_to, reason=DEACTIVATED, actor=actor)


def agent_set_availability(*, agent, available, actor, reassign=True, reassign_to=None):
    """Mark the agent on or off shift; going away with `reassign` hands their work on. Returns the moves.

    Agents may change their own availability; anyone else's needs a manager, and so does choosing
    who takes the work over.
    """
    is_self = actor.is_user and actor.user.pk == agent.user_id
    if not (is_self or actor.has_perm(CHANGE_AGENT)):
        raise PermissionDenied("You can only change your own availability; a manager changes other agents'.")
    if reassign_to is not None and not actor.has_perm(CHANGE_AGENT):
        raise PermissionDenied("Only managers choose who takes over an agent's customers and exceptions.")
    _check_successor(agent, reassign_to)
    _set_flags(agent, is_available=available)
    if available:
        room_made(agent_ids=[agent.pk])  # on shift: the team's waiting customers may reach them
        return []
    if not reassign:
        return []
    return _hand_on(agent, reassign_to=reassign_to, reason=AWAY, actor=actor)


def preview_reassignment(agent, reassign_to=None, *, deactivate=False):
    """The moves handing on the agent's work would make, in the same order, writing nothing.

    It runs the same decisions on the loads read now: the agent counts as away (or deactivated),
    each move adds one item to its new agent's load, and round robin walks on from each team's
    counter. The real run matches it as long as the teams' work does not change in between.
    """
    _check_successor(agent, reassign_to)
    owned, exceptions = selectors.agent_open_work(agent)
    team_ids = {o.team_id for o in owned} | {e.queue_id for e in exceptions if e.queue_id}
    teams = {team.pk: team for team in Team.objects.filter(pk__in=team_ids)}
    loads = {team_id: selectors.agent_loads(team_id) for team_id in team_ids}
    leaving = {"is_active": False} if deactivate else {"is_available": False}
    given = Counter()  # items this plan hands each agent: loads count across all of an agent's teams
    choice = reassign_to.pk if reassign_to is not None else None

    def decide(team_id):
        team = teams[team_id]
        now = [replace(load, **leaving) if load.agent_id == agent.pk
               else replace(load, open_items=load.open_items + given[load.agent_id]) for load in loads[team_id]]
        decision = rules.choose_agent(team.routing_mode, now, slot=team.rr_counter, previous_agent_id=agent.pk,
                                      manager_choice=choice)
        if decision.slot is not None:
            team.rr_counter += 1
        if decision.agent_id is not None:
            given[decision.agent_id] += 1
        return decision

    moves = []
    for ownership in owned:
        decision = rules.RoutingDecision(rules.TeamChoice(ownership.team_id, source=rules.CURRENT_TEAM),
                                         decide(ownership.team_id), stage=ownership.customer.stage)
        moves.append(_customer_move(ownership.customer_id, ownership.team_id, decision.label, decision.as_detail()))
    for exception in exceptions:
        decision = decide(exception.queue_id) if exception.queue_id else _managers_queue(reassign_to)
        moves.append(_exception_move(exception, decision))
    return moves


# --- internals ---------------------------------------------------------------------------------
def _check_successor(agent, reassign_to):
    if reassign_to is None:
        return
    if reassign_to.pk == agent.pk:
        raise InvalidOwner(f"{agent} cannot take over their own work; choose another agent.")
    if not reassign_to.user.is_active:
        raise InvalidOwner(f"{reassign_to} is deactivated; choose an active agent.")


def _set_flags(agent, *, is_active=None, is_available=None):
    with transaction.atomic():
        team_ids = list(agent.teams.values_list("pk", flat=True))
        # Wait for routings into these teams in flight, and make later ones see the new flag.
        list(Team.objects.select_for_update(no_key=True).filter(pk__in=team_ids).order_by("pk").values_list("pk"))
        if is_active is not None:
            agent.user.is_active = is_active
            agent.user.save(update_fields=["is_active"])
        if is_available is not None:
            Agent.objects.filter(pk=agent.pk).update(is_available=is_available)
            agent.is_available = is_available


def _hand_on(agent, *, reassign_to, reason, actor):
    owned, exceptions = selectors.agent_open_work(agent)
    moves = []
    for ownership in owned:
        handoff = reroute_customer(customer=ownership.customer, from_agent=agent, to_agent=reassign_to,
                                   reason=reason, actor=actor)
        if handoff is not None:
            moves.append(_customer_move(handoff.customer_id, handoff.to_team_id, handoff.rule, handoff.detail))
    for exception in exceptions:
        move = _reroute_exception(exception, from_agent=agent, to_agent=reassign_to, actor=actor)
        if move is not None:
            moves.append(move)
    return moves


def _reroute_exception(exception, *, from_agent, to_agent, actor):
    with transaction.atomic():
        if exception.queue_id:
            # Team before exception, the order routing takes them in (it resolves exceptions under
            # the team's lock), so the two never wait on each other in a circle.
            Team.objects.select_for_update(no_key=True).filter(pk=exception.queue_id).values_list("pk").first()
        locked = ExceptionCase.objects.select_for_update().get(pk=exception.pk)
        if locked.status not in OPEN_STATUSES or locked.assignee_id != from_agent.pk:
            return None  # closed or moved meanwhile: no longer this agent's
        if locked.queue_id:
            _, decision = choose_agent_locked(locked.queue_id, previous=from_agent.pk, manager_choice=to_agent)
        else:
            decision = _managers_queue(to_agent)
        _set_assignee(locked, decision.agent_id, actor)
    return _exception_move(locked, decision)


def _set_assignee(exception, agent_id, actor):
    if agent_id is None:
        if exception.status == ExceptionStatus.IN_PROGRESS:
            exception.release()
        exception.assignee, exception.claimed_at = None, None
        exception.save()
        timeline.record_exception_released(exception=exception, actor=actor)
        return
    # As a manager's assignment does (services/queues.py): an assigned exception is being worked.
    if exception.status == ExceptionStatus.OPEN:
        exception.claim()
    exception.assignee_id, exception.claimed_at = agent_id, timezone.now()
    exception.save()
    timeline.record_exception_assigned(exception=exception, actor=actor)


def _managers_queue(reassign_to):
    if reassign_to is not None:
        return rules.AgentDecision(reassign_to.pk, rules.MANAGER_CHOICE)
    return rules.AgentDecision(None, MANAGERS_QUEUE)


def _customer_move(customer_id, team_id, rule, detail):
    return Move("customer", customer_id, team_id, detail["agent_id"], rule, detail["skipped"], detail["fallback"])


def _exception_move(exception, decision):
    where = f"queue:{exception.queue_id}" if exception.queue_id else MANAGERS_QUEUE
    return Move("exception", exception.pk, exception.queue_id, decision.agent_id, f"{where}/{decision.mode}",
                {str(k): v for k, v in decision.skipped.items()}, decision.fallback)
