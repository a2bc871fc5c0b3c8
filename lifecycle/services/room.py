"""Room appears in a team: an agent's load falls (a customer handed on, an exception closed), an
agent comes on shift, a manager raises a capacity. Then the team's waiting customers should reach
the agents with room (assignment.waiting_route), soon, but not inside the change that made the room.

room_made queues the routing after the caller's transaction commits, as a task: the change returns
at once and a rolled-back change routes nothing. The beat's minute sweep covers a lost message.
"""

from django.db import transaction
from django.db.models import Q

from lifecycle.models import Ownership


def room_made(*, agent_ids=(), team_ids=()):
    """The teams of these agents, and these teams, may have room now: route their waiting customers.
    Nothing is read inside the caller's transaction (a handoff is on the webhook's path): the one
    query runs after it commits."""
    agent_ids = sorted({a for a in agent_ids if a is not None})
    team_ids = sorted({t for t in team_ids if t is not None})
    if agent_ids or team_ids:
        # robust: a broker that is down must not fail the change that already committed (the
        # beat's sweep routes the customers within a minute of it coming back).
        transaction.on_commit(lambda: _queue(agent_ids, team_ids), robust=True)


def _queue(agent_ids, team_ids):
    """Queue the routing for the teams (given, or of the agents) where someone waits: one query on
    the owner rows' (team, agent) index; most changes find nobody waiting, and send no task."""
    from lifecycle.tasks import route_waiting_customers  # the tasks module imports the services

    where = Q(team_id__in=team_ids) | Q(team__agents__in=agent_ids)
    teams = sorted(set(Ownership.objects.filter(where, agent__isnull=True)
                       .values_list("team_id", flat=True).order_by().distinct()))
    if teams:
        route_waiting_customers.delay(teams)
