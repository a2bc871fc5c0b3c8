"""Room appears in a team: an agent's load falls (a customer handed on, an exception closed), an
agent comes on shift, a manager raises a capacity. Then the team's waiting customers should reach
the agents with room (assignment.waiting_route), soon, but not inside the change that made the room.

room_made queues the routing after the caller's transaction commits, as a task: the change returns
at once and a rolled-back change routes nothing. The beat's minute sweep covers a lost message.
"""

from django.db import transaction

from lifecycle.models import Agent, Ownership


def room_made(*, agent_ids=(), team_ids=()):
    """The teams of these agents, and these teams, may have room now: route their waiting customers."""
    agent_ids = [a for a in agent_ids if a is not None]
    teams = set(team_ids) | (set(Agent.teams.through.objects.filter(agent_id__in=agent_ids)
                                 .values_list("team_id", flat=True)) if agent_ids else set())
    teams.discard(None)
    if teams:
        # robust: a broker that is down must not fail the change that already committed (the
        # beat's sweep routes the customers within a minute of it coming back).
        transaction.on_commit(lambda: _queue(sorted(teams)), robust=True)


def _queue(team_ids):
    """Queue the routing when someone in these teams waits (an index probe; most changes find nobody
    waiting, and then no task is sent)."""
    from lifecycle.tasks import route_waiting_customers  # the tasks module imports the services

    waiting = (Ownership.objects.filter(team_id__in=team_ids, agent__isnull=True)
               .values_list("team_id", flat=True).order_by().distinct())
    teams = sorted(set(waiting))
    if teams:
        route_waiting_customers.delay(teams)
