"""`manage.py seed_demo`: demo staff and a few hundred customers in every stage, through the services.

Idempotent: users and agents are get-or-create, and a customer whose email identity exists is
skipped whole (each customer is created in one transaction, so none exists half-made). Customers
are generated from their index alone (see demo_data), so a rerun meets the same people.
"""

import os
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.management import demo_data as demo
from lifecycle.management.demo_journeys import seed_journeys
from lifecycle.models import PAID_STATES, STAGE_TRANSITIONS, Agent, Customer, CustomerIdentity, Handoff, IdentityKind
from lifecycle.models import Order, OrderState, Ownership, Stage, Team
from lifecycle.normalise import normalize_email
from lifecycle.services.customers import customer_create
from lifecycle.services.errors import ServiceError
from lifecycle.services.health import health_seed
from lifecycle.services.observations import orders_observe
from lifecycle.services.orders import order_transition
from lifecycle.services.ownership import owner_reassign, ownership_transfer
from lifecycle.services.stages import customer_move_stage
from lifecycle.values import CustomerRef, OrderObservation

# A LOCAL DEMO ONLY: every demo login shares this password, which is printed on the console.
# Never run seed_demo against a database that real people log in to.
DEFAULT_PASSWORD = "aftercare-demo"
PASSWORD_ENV = "AFTERCARE_DEMO_PASSWORD"
MAX_ORDERS_PER_CUSTOMER = 10  # order numbers are 100000 + 10 × customer index + n: unique and stable
SYSTEM = Actor.system("seed_demo")
# Each step of an order is reported a little after the one before (the shop's and the ERP's clocks
# have one-second resolution): the last lands no later than the seed's start, none in the future.
STEP_SPACING = timedelta(seconds=30)


@dataclass(frozen=True)
class PlacedOrder:
    """What a scenario learns of an order it placed (demo_data names it in reasons)."""

    number: str


def shop_account(person):
    """The demo customer's account id in the demo shop."""
    return str(5000 + person.index)


class Plan:
    """One customer's scenario run: the helpers scenarios in demo_data call."""

    def __init__(self, seeder, customer, person, rng):
        self.seeder, self.customer, self.person, self.rng = seeder, customer, person, rng
        self.orders = 0
        # How the shop names the customer on its orders: the shop account the customer was created with.
        self.customer_ref = CustomerRef(kind=IdentityKind.WOOCOMMERCE, namespace=demo.STORE,
                                        account_id=shop_account(person), email=normalize_email(person.email),
                                        display_name=person.name)

    def days(self, low, high):
        return self.rng.randint(low, max(low, high))

    def pick(self, options):
        return self.rng.choice(options)

    def order(self, final, days_ago, *, start=None, path=None):
        steps = list(self.pick(demo.PATHS[final]) if path is None else path)
        if path is None and start is None and days_ago >= demo.HISTORY_DAYS and final in PAID_STATES \
                and self.rng.random() < 0.7:
            start, steps = final, []  # an older order arrives with its history, in the state it reached
        first = start or "pending_payment"
        if start and steps and steps[0] == start:
            steps = steps[1:]
        number = 100000 + MAX_ORDERS_PER_CUSTOMER * self.person.index + self.orders
        self.orders += 1
        placed_at = self.seeder.now - timedelta(days=days_ago, minutes=self.rng.randint(5, 1439))
        # Money arrives minutes after a card payment, days after a bank transfer (on hold first).
        if "on_hold" in steps:
            paid_delay = timedelta(days=self.rng.randint(1, 4))
        else:
            paid_delay = timedelta(minutes=self.rng.randint(1, 90))
        if demo.RAW[first][0] == "erp":
            # The ERP had moved it on before its history arrived: the shop reported it paid, the ERP the rest.
            first, *steps = min(demo.PATHS[first], key=len)
        total = demo.basket_total(self.rng)
        return self.report(number, placed_at, paid_delay, total, [first, *steps])

    def report(self, number, placed_at, paid_delay, total, states):
        """Have each system report the order's states in turn, as it would in production: the shop's
        statuses through the observation path its webhooks take (the shop's status and the order
        agree at every step), the ERP's warehouse steps as moves that store the ERP's status."""
        timing = random.Random(number)  # its own stream: the scenario's draws stay what they were
        times, at = [], placed_at
        for i, state in enumerate(states):
            if i or state in PAID_STATES:
                gap = paid_delay if (state == "paid" or i == 0) else timedelta(hours=timing.randint(2, 72))
                latest = self.seeder.now - STEP_SPACING * (len(states) - 1 - i)
                at = max(at + timedelta(seconds=1), min(at + gap, latest))
            times.append(at)
        paid_at = next((t for state, t in zip(states, times) if state in PAID_STATES), None)
        partial = (total * Decimal(timing.choice(["0.1", "0.2", "0.3", "0.5"]))).quantize(Decimal("0.01"))
        refunded = {"refunded": total, "partially_refunded": partial}
        ref, order, shop = f"seed_demo:{number}", None, []
        for state, at in zip(states, times):
            system, raw = demo.RAW[state]
            if system == "shop":
                shop.append(OrderObservation(
                    system="woocommerce", namespace=demo.STORE, external_id=str(number), number=str(number),
                    customer=self.customer_ref, raw_status=raw, meaning=state, currency=demo.CURRENCY, total=total,
                    refunded_total=refunded.get(state, Decimal(0)), placed_at=placed_at,
                    paid_at=paid_at if paid_at and at >= paid_at else None, modified_at=at, actor=SYSTEM,
                    source_name="Demo shop", event_ref=ref, received_at=at,
                ))
                continue
            if shop:
                orders_observe(observations=shop)
                shop = []
            # The customer's transaction (create_customer) holds the lock from here on.
            order = order or Order.objects.select_for_update().get(system="woocommerce", namespace=demo.STORE,
                                                                   external_id=str(number))
            order_transition(order=order, to_state=state, actor=SYSTEM, raw_status=raw, source=system,
                             system="erp", observed_at=at, event_ref=ref, locked=True)
        if shop:
            orders_observe(observations=shop)
        return PlacedOrder(str(number))

    def stage(self):
        return Customer.objects.values_list("stage", flat=True).get(pk=self.customer.pk)

    def move(self, transition, *, by, reason=""):
        # An order may already have moved the customer there (e.g. a second paid order activates).
        if self.stage() == STAGE_TRANSITIONS[transition].target:
            return
        actor = ({"system": SYSTEM, "manager": self.seeder.manager_actor}.get(by)
                 or self.seeder.agent_actor(self.rng, self.customer))
        customer_move_stage(customer=self.customer, transition=transition, actor=actor, reason=reason)


class Command(BaseCommand):
    help = "Create demo logins and a few hundred customers in every stage (local demo only; idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, help="How many demo customers (default 300).")

    def handle(self, *args, customers, **options):
        if customers < 0:
            raise CommandError("--customers must be zero or more.")
        password = os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD
        self.now = timezone.now()
        logins = self.create_staff(password)
        created = skipped = 0
        for person in demo.generate_people(customers):
            if CustomerIdentity.objects.filter(kind=IdentityKind.EMAIL, namespace="", value=person.email).exists():
                skipped += 1
                continue
            self.create_customer(person)
            created += 1
        seed_journeys(self)  # every state of the first 30 days (lifecycle/management/demo_journeys.py)
        health_seed()  # a health score for every customer with orders (lifecycle/services/health.py)
        self.report(created, skipped, logins, password)

    # --- staff ---------------------------------------------------------------------------------
    def user(self, username, first, last, group, password_hash, created_users):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@aftercare.example",
                      "is_staff": True, "password": password_hash},
        )
        if created:  # existing users keep their password
            created_users.append(username)
        user.groups.add(Group.objects.get(name=group))
        return user

    def create_staff(self, password):
        created_users, logins = [], []
        # One hash for every demo login: they share the password anyway, and hashing it per user
        # costs half a second each (PBKDF2). Fine for a local demo, never for real accounts.
        password = make_password(password)
        self.teams = teams = {team.slug: team for team in Team.objects.all()}
        for username, first, last, managed in demo.MANAGERS:
            user = self.user(username, first, last, "Manager", password, created_users)
            logins.append((username, f"Manager of {', '.join(managed)}"))
            for slug in managed:
                if slug in teams and teams[slug].manager_id is None:
                    teams[slug].manager = user
                    teams[slug].save(update_fields=["manager"])
        self.manager_actor = Actor.for_user(User.objects.get(username=demo.MANAGERS[0][0]))
        self.agents = {}
        for username, first, last, slugs, capacity, on_shift in demo.AGENTS:
            user = self.user(username, first, last, "Support agent", password, created_users)
            agent, _ = Agent.objects.get_or_create(user=user, defaults={"capacity": capacity, "is_available": on_shift})
            if not agent.teams.exists():
                agent.teams.set([teams[slug] for slug in slugs if slug in teams])
            self.agents[username] = agent
            logins.append((username, f"Support agent: {', '.join(slugs)}{'' if on_shift else ' (off shift)'}"))
        for username, first, last in demo.OPERATIONS:
            self.user(username, first, last, "Operations", password, created_users)
            logins.append((username, "Operations"))
        self.agent_teams = {a.pk: set(a.teams.values_list("pk", flat=True)) for a in self.agents.values()}
        self.agent_actors = [(a.pk, Actor.for_user(a.user)) for a in self.agents.values() if a.is_available]
        self.created_users = created_users
        return logins

    def agent_actor(self, rng, customer):
        """An available agent of the customer's owning team (agents act on their teams' customers only)."""
        team_id = Ownership.objects.filter(customer=customer).values_list("team_id", flat=True).first()
        actors = [actor for agent_id, actor in self.agent_actors if team_id in self.agent_teams[agent_id]]
        return rng.choice(actors) if actors else self.manager_actor

    # --- customers -----------------------------------------------------------------------------
    def create_customer(self, person):
        rng = demo.customer_rng(person.index)
        scenario, stage, _ = demo.scenario_for(person.index, rng)
        with transaction.atomic():
            customer = customer_create(
                actor=SYSTEM, display_name=person.name, email=person.email, phone=person.phone,
                country=person.country, identities=[(IdentityKind.WOOCOMMERCE, demo.STORE, shop_account(person))],
                created_at=self.now - timedelta(days=rng.randint(121, 400)),
            )
            plan = Plan(self, customer, person, rng)
            try:
                scenario(plan)
            except ServiceError as exc:  # e.g. a stage without an owning team after someone edited them
                raise CommandError(f"Scenario {scenario.__name__} for {person.name}: {exc}") from exc
            if plan.stage() != stage:
                raise CommandError(f"Scenario {scenario.__name__} left {person.name} in {plan.stage()}, not {stage}.")
            if stage == Stage.AT_RISK:
                self.escalate_to_specialist(customer)
            elif stage != Stage.PROSPECT and rng.random() < demo.REASSIGN_SHARE:
                self.reassign_by_manager(customer, person, rng)

    def escalate_to_specialist(self, customer):
        owner = Ownership.objects.get(customer=customer)
        specialist = self.agents[demo.RETENTION_SPECIALIST]
        if owner.agent_id != specialist.pk and owner.team_id in self.agent_teams[specialist.pk]:
            ownership_transfer(
                customer=customer, team=owner.team, agent=specialist, actor=SYSTEM, rule="at_risk_specialist",
                reason="At-risk customers go to the retention specialist",
            )

    def reassign_by_manager(self, customer, person, rng):
        owner = Ownership.objects.select_related("team", "agent__user").get(customer=customer)
        slug, reason = rng.choice(demo.REASSIGNMENTS)
        team = self.teams.get(slug) if slug else owner.team
        if team is None:  # a team the demo expects was renamed or removed: no such reassignment
            return
        candidates = [
            a for a in self.agents.values()
            if a.pk != owner.agent_id and a.is_available and a.user.is_active and team.pk in self.agent_teams[a.pk]
        ]
        if not candidates or ("{agent}" in reason and owner.agent is None):
            return
        owner_reassign(
            customer=customer, team=team, agent=rng.choice(candidates), actor=self.manager_actor,
            reason=reason.format(language=person.language, agent=owner.agent), expected=(owner.team_id, owner.agent_id),
        )

    # --- summary -------------------------------------------------------------------------------
    def report(self, created, skipped, logins, password):
        out = self.stdout.write
        out(f"Customers: {created} created, {skipped} already there.")
        stages = dict(Customer.objects.values_list("stage").annotate(n=Count("pk")))
        out("By stage:  " + ", ".join(f"{s.value} {stages.get(s.value, 0)}" for s in Stage))
        states = dict(Order.objects.values_list("state").annotate(n=Count("pk")))
        out("By order state:  " + ", ".join(f"{s.value} {states.get(s.value, 0)}" for s in OrderState))
        owned, unassigned = Ownership.objects.count(), Ownership.objects.filter(agent__isnull=True).count()
        out(f"Owned customers: {owned} ({unassigned} waiting for an agent); handoffs: {Handoff.objects.count()} "
            f"({Handoff.objects.filter(rule='manual').count()} manual reassignments)")
        out(f"Demo logins (LOCAL DEMO ONLY), password {password!r} for users created by a run "
            f"(a rerun leaves existing users' passwords alone):")
        for username, role in logins:
            out(f"  {username:<10} {role}{'  [new]' if username in self.created_users else ''}")
