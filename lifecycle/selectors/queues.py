"""Reads for the agent home: my work (assigned exceptions, owned customers that need me), oldest
first, and what waits unclaimed in my teams' queues. Everything passes through visibility.

Bounded whatever the data size: lists are one page (`PAGE`), and counts stop at `COUNT_CAP` (a
100,000-item queue reads "100+": counting it exactly would cost more than the number tells anyone).
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import CharField, Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat

from lifecycle.models import (
    OPEN_STATUSES,
    Agent,
    Customer,
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Ownership,
    Stage,
)
from lifecycle.selectors.visibility import (
    agent_of,
    customers_visible_to,
    exceptions_visible_to,
)
from lifecycle.services.ownership import unassigned_subject

PAGE = 50  # rows per list: a shift's worth of work; the totals say how many more there are
# Counts past this read "100+". Visibility runs over at most COUNT_CAP + 1 candidates: past a few
# hundred, PostgreSQL joins them to every Ownership row by hash (146 ms at 200,000 customers, against
# 0.5 ms for 101 candidates through the index).
COUNT_CAP = 100
ASSIGN = "lifecycle.assign_exceptioncase"  # the services' permission (lifecycle.services.queues.ASSIGN)


@dataclass
class Capped:
    """A count that stops at COUNT_CAP: `value` and whether there are more."""

    value: int
    capped: bool = False

    def __str__(self):
        return f"{self.value}+" if self.capped else str(self.value)


@dataclass
class AgentQueue:
    agent: object = None  # None: the user has no agent profile (a manager, operations)
    exceptions: list = field(default_factory=list)  # assigned to me, open, oldest first
    exceptions_total: Capped = field(default_factory=lambda: Capped(0))
    overdue_total: Capped = field(default_factory=lambda: Capped(0))
    customers: list = field(default_factory=list)  # customers I own that need action, oldest first
    customers_total: Capped = field(default_factory=lambda: Capped(0))
    team_unclaimed: Capped = field(default_factory=lambda: Capped(0))  # exceptions "claim next" can give me
    # Customers my teams own that wait for an agent (claimable by me), the one due first first.
    waiting: list = field(default_factory=list)
    waiting_total: Capped = field(default_factory=lambda: Capped(0))


@contextmanager
def without_jit():
    """A transaction in which PostgreSQL does not JIT-compile queries.

    The console's reads are many short queries whose cost estimates (inflated by visibility's
    never-run subplans, or by large aggregates) pass jit_above_cost: JIT then spends longer
    compiling than executing (measured at 200,000 customers: 46 ms of JIT for a 20 ms query, 760 ms
    for a 100 ms aggregate). SET LOCAL ends with the transaction. No-op elsewhere.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def waiting_customers(team_ids):
    """Customers the teams own without an agent, the one due first first: by the running clock of
    `unassigned_customer` (due_at), then, with no clock running (dismissed), by how long they have
    waited (waiting_since). What "claim next" and the routing of waiting customers take from.

    The clock is found by its subject (lifecycle/services/ownership.py unassigned_subject, which
    raises and stops it), a probe of the one-open-per-subject index for each waiting customer: by the
    customer's id it walked all of the customer's exceptions (on 200,000 customers, 8,000 waiting in
    a team: 108 ms, 45 ms by subject)."""
    subject = Concat(Value(unassigned_subject("")), Cast(OuterRef("pk"), CharField()))
    clock = ExceptionCase.objects.filter(kind=ExceptionKind.UNASSIGNED_CUSTOMER, subject_key=subject,
                                         status__in=OPEN_STATUSES)
    return (Customer.objects.filter(ownership__team_id__in=team_ids, ownership__agent__isnull=True)
            .annotate(due_at=Subquery(clock.values("due_at")[:1]), waiting_since=F("ownership__since"))
            .order_by(F("due_at").asc(nulls_last=True), "waiting_since", "pk"))


def _unclaimed_open():
    return ExceptionCase.objects.filter(status=ExceptionStatus.OPEN, assignee__isnull=True)


def _claimable(user, agent):
    """What `exception_claim_next` picks from, as the service filters it: the open, unassigned items
    of my teams' queues (any queue for managers)."""
    candidates = _unclaimed_open().exclude(kind=ExceptionKind.UNASSIGNED_CUSTOMER)  # claimed as customers
    if not user.has_perm(ASSIGN):
        candidates = candidates.filter(queue_id__in=agent.teams.values("id"))
    return candidates


def _visible(user, model, candidates, cap=COUNT_CAP):
    """Visibility over at most cap + 1 candidates (picked from an index first), so a count costs the
    same for a queue of 100 or 100,000; `.count() > cap` then means "more than cap"."""
    ids = candidates.order_by().values("pk")[: cap + 1]
    visible = exceptions_visible_to if model is ExceptionCase else customers_visible_to
    return visible(user, model.objects.filter(pk__in=ids))


def _capped(queryset, cap=COUNT_CAP):
    n = queryset.count()
    return Capped(min(n, cap), n > cap)


def _needing_action(agent):
    """Customers I own that wait for me: at risk, or with an open exception nobody has claimed.
    (Probes the unclaimed-exceptions-by-customer index once per customer I own.)"""
    unclaimed = _unclaimed_open().filter(customer_id=OuterRef("pk"))
    return Customer.objects.filter(ownership__agent_id=agent.pk).filter(Q(stage=Stage.AT_RISK) | Exists(unclaimed))


def _oldest_unclaimed():
    """"Waiting since": the oldest unclaimed exception's opening (else the stage change, see below)."""
    oldest = _unclaimed_open().filter(customer_id=OuterRef("pk")).order_by("opened_at").values("opened_at")
    return Subquery(oldest[:1])


def agent_queue(user, now):
    """The agent home's data in a fixed number of queries (6 or 7 with an agent profile, plus the JIT
    setting on PostgreSQL; 1 without), each bounded by PAGE or COUNT_CAP rows whatever the queue sizes."""
    agent = agent_of(user)
    if agent is None:
        return AgentQueue()
    with without_jit():
        return _agent_queue(user, agent, now)


def _agent_queue(user, agent, now):
    mine = ExceptionCase.objects.filter(assignee_id=agent.pk, status__in=OPEN_STATUSES)
    exceptions = list(
        exceptions_visible_to(user, mine)
        .select_related("customer", "queue", "order")
        .order_by("opened_at", "id")[:PAGE]
    )
    totals = _visible(user, ExceptionCase, mine).aggregate(
        total=Count("*"), overdue=Count("due_at", filter=Q(due_at__lt=now))
    )
    needing = _needing_action(agent)
    customers = list(
        customers_visible_to(user, needing)
        .annotate(oldest_unclaimed=_oldest_unclaimed())
        .order_by(F("oldest_unclaimed").asc(nulls_last=True), F("stage_changed_at").asc(nulls_last=True), "id")[:PAGE]
    )
    # A short list is the whole list: count only when the page is full.
    customers_total = _capped(_visible(user, Customer, needing)) if len(customers) == PAGE else Capped(len(customers))
    team_ids = list(agent.teams.values_list("id", flat=True))
    waiting = list(waiting_customers(team_ids).select_related("ownership__team")[:PAGE])
    total_capped = totals["total"] > COUNT_CAP
    return AgentQueue(
        agent=agent,
        exceptions=exceptions,
        exceptions_total=Capped(min(totals["total"], COUNT_CAP), total_capped),
        overdue_total=Capped(totals["overdue"], total_capped),  # counted among the first COUNT_CAP + 1
        customers=customers,
        customers_total=customers_total,
        team_unclaimed=_capped(_visible(user, ExceptionCase, _claimable(user, agent))),
        waiting=waiting,
        # A short list is the whole list: count only when the page is full.
        waiting_total=_capped(Ownership.objects.filter(team_id__in=team_ids, agent__isnull=True)[: COUNT_CAP + 1])
        if len(waiting) == PAGE else Capped(len(waiting)),
    )


def team_rosters(teams):
    """Per team, its agents with the open exceptions each holds in that team's queue (what a bulk
    reassignment would move) and in all: one membership query, one GROUP BY on the assigned-open index."""
    members = (
        Agent.teams.through.objects.filter(team_id__in=[team_id for team_id, _ in teams])
        .select_related("agent__user")
        .order_by("team_id", "agent__user__username")
    )
    held = (
        ExceptionCase.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False)
        .values("assignee", "queue").annotate(n=Count("*")).order_by()
    )
    in_queue, in_all = {}, {}
    for row in held:
        in_queue[(row["assignee"], row["queue"])] = row["n"]
        in_all[row["assignee"]] = in_all.get(row["assignee"], 0) + row["n"]
    rosters = {team_id: [] for team_id, _ in teams}
    for member in members:
        agent = member.agent
        rosters[member.team_id].append({
            "id": agent.pk, "name": str(agent), "available": agent.is_available, "active": agent.user.is_active,
            "in_queue": in_queue.get((agent.pk, member.team_id), 0), "held": in_all.get(agent.pk, 0),
        })
    return rosters
