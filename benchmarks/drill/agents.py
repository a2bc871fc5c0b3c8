"""The drill's agents: people working their queues through the services, as the console's views do.

At a set rate an agent on shift presses "claim next" (lifecycle.services.queues.claim_next): the item
due first in their teams' queues, a customer waiting for an agent or an exception. An exception a
person can settle by acting (a missed touchpoint caught up, an ownership conflict decided for the
console's owner, a customer at risk called, a payment chased) is then resolved with a reason. The
others (a state mismatch, a sync failure, an unmapped status) are fixed in another system, not by
pressing "resolve": the agent keeps them in progress, and the console closes them itself when their
condition clears.
"""

import random
import threading
import time
from dataclasses import dataclass, field

from drill.dbsafe import database_errors, fresh_connection

RESOLVABLE = {"missed_touchpoint", "ownership_conflict", "at_risk", "payment_problem"}


@dataclass
class Work:
    claimed_customers: int = 0
    claimed: dict = field(default_factory=dict)
    resolved: dict = field(default_factory=dict)
    nothing: int = 0
    refused: int = 0
    errors: int = 0


class Agents:
    def __init__(self, *, per_minute, seed):
        self.per_minute = per_minute
        self.rng = random.Random(f"drill-agents-{seed}")
        self.work = Work()
        self.stopping = threading.Event()

    def loop(self):
        if self.per_minute <= 0:
            return
        people = None
        while not self.stopping.wait(60.0 / self.per_minute):
            try:
                fresh_connection()
                people = people or _on_shift()
                self._act(*self.rng.choice(people))
            except database_errors():
                self.work.errors += 1  # the connection was cut (a fault): the next press reconnects

    def _act(self, agent, actor):
        from lifecycle.services.errors import ServiceError
        from lifecycle.services.queues import NothingToClaim, claim_next, exception_close

        try:
            claimed = claim_next(actor=actor)
        except NothingToClaim:
            self.work.nothing += 1
            return
        except ServiceError:
            self.work.refused += 1
            return
        if claimed.customer is not None:
            self.work.claimed_customers += 1
            return
        kind = claimed.exception.kind
        self.work.claimed[kind] = self.work.claimed.get(kind, 0) + 1
        if kind in RESOLVABLE:
            time.sleep(self.rng.uniform(0, 0.2))  # reading the case
            try:
                exception_close(exception=claimed.exception, actor=actor, reason=f"Handled by {agent} in the drill.")
                self.work.resolved[kind] = self.work.resolved.get(kind, 0) + 1
            except ServiceError:
                self.work.refused += 1


def _on_shift():
    from lifecycle.actors import Actor
    from lifecycle.models import Agent

    agents = Agent.objects.filter(is_available=True, user__is_active=True).select_related("user")
    return [(agent.user.username, Actor.for_user(agent.user)) for agent in agents]
