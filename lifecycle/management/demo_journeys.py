"""What `seed_demo` adds to the journeys its customers started: every state a step or a journey can
be in, through the journey services as people and systems would have made them.

The demo's orders already started journeys (customers entering onboarding) and told them what
happened (paid, shipped, delivered, refunded: the follower reads it). Then the sweep marks what is
overdue missed, with its exceptions, and agents of each step's team mark touchpoints done: some on
time, some late (catching up a missed one resolves its exception), a welcome email sent twice (by
marketing and by a manager: duplicated), and the 30-day review of customers already active (their
journeys complete).

Which steps get marks follows from the customer's id, and only a step still open is marked, so a
rerun changes nothing.
"""

from lifecycle.actors import Actor
from lifecycle.models import JourneyStatus, JourneyStep, Stage, StepState
from lifecycle.services.journeys.follow import journeys_follow
from lifecycle.services.journeys.marks import step_mark_done
from lifecycle.services.journeys.sweep import journeys_sweep

SYSTEM = Actor.system("seed_demo")
OPEN = (StepState.PENDING, StepState.MISSED)
# (step key, every how many customers, what the agent writes)
MARKS = [
    ("welcome_email", 2, "Welcome email with the setup guide sent from the shop's mailing tool"),
    ("order_confirmation", 3, "Confirmation resent by hand: the customer's mail server had bounced it"),
    ("onboarding_check", 3, "Setup call: the customer is using the product and has no open questions"),
    ("delivery_check_in", 4, "Called after delivery: parcel complete, nothing damaged"),
    ("review_request", 5, "Asked for a review in the follow-up email"),
]
TWICE = 7  # every 7th customer's welcome email was sent twice: by marketing, then by a manager


def seed_journeys(seeder):
    """Bring the demo's journeys to every state (see the module docstring); returns the marks made."""
    journeys_follow(actor=SYSTEM)
    journeys_sweep(actor=SYSTEM)
    agents = _agents_by_team(seeder)
    marks = 0
    for step in (JourneyStep.objects.filter(journey__status=JourneyStatus.RUNNING, state__in=OPEN)
                 .select_related("journey__customer").order_by("journey__customer_id", "position")):
        customer = step.journey.customer
        team_agents = agents.get(step.team_id, [])
        agent = Actor.for_user(team_agents[customer.pk % len(team_agents)].user) if team_agents else None
        comment = next((c for key, every, c in MARKS if key == step.key and customer.pk % every == 0), None)
        if step.key == "welcome_email" and customer.pk % TWICE == 1 and agent:
            _mark(step, agent, "Welcome pack emailed")
            _mark(step, seeder.manager_actor, "Sent our own welcome too, not knowing marketing had")
            marks += 2
        elif step.key == "value_review" and customer.stage == Stage.ACTIVE and agent:
            marks += _mark(step, agent, "30-day review call: happy, and ordering again")  # completes the journey
        elif comment and agent:
            marks += _mark(step, agent, comment)
    return marks


def _agents_by_team(seeder):
    """{team id: the available demo agents of it}."""
    found = {}
    for agent in seeder.agents.values():
        if agent.is_available:
            for team_id in seeder.agent_teams[agent.pk]:
                found.setdefault(team_id, []).append(agent)
    return found


def _mark(step, actor, comment):
    step_mark_done(step=step, actor=actor, comment=comment)
    return 1
