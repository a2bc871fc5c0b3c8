"""What the console reads of journeys: a customer's journey strip, an agent's overdue steps, the
dashboard's completion figures, the API's journey per customer, and the journey map's figures.
Each is a fixed number of queries."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django.db.models import CharField, Count, Exists, Max, OuterRef, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncWeek

from lifecycle.db.sql import table
from lifecycle.models import (
    OPEN_STATUSES,
    Agent,
    ExceptionCase,
    Journey,
    JourneyStatus,
    JourneyStep,
    Playbook,
    StepState,
    Team,
)
from lifecycle.selectors.visibility import agent_of
from lifecycle.services.journeys.ending import subject_of
from lifecycle.services.journeys.marks import MARKED, mark_refusal
from lifecycle.services.journeys.signals import describe, matches
from lifecycle.services.journeys.timing import ON_TIME_GRACE

DONE = (StepState.DONE, StepState.LATE)


# --- the customer screen's strip ------------------------------------------------------------------
@dataclass
class StepRow:
    step: JourneyStep
    status: str  # "done", "late", "missed", "overdue" (pending past due), "upcoming", "skipped"
    label: str
    completes_when: str
    can_mark: bool = False
    refusal: str = ""  # why this user may not mark it, with whom to ask (empty: may, or nothing to mark)


@dataclass
class JourneyStrip:
    journey: Journey | None
    steps: list = field(default_factory=list)
    earlier: list = field(default_factory=list)  # the customer's other journeys, newest first

    @property
    def done(self):
        return sum(1 for row in self.steps if row.status in ("done", "late"))


LABELS = {"done": "Done on time", "late": "Done late", "missed": "Missed", "overdue": "Overdue",
          "upcoming": "Upcoming", "skipped": "Skipped"}


def step_status(step, now):
    if step.state == StepState.PENDING:
        return "overdue" if step.due_at + ON_TIME_GRACE < now else "upcoming"
    return step.state if step.state != StepState.DONE else "done"


def customer_journey(customer, user, now):
    """The customer's current journey (the running one, else the latest) with each step's status and
    whether `user` may mark it done (and if not, whom to ask); `journey` None when it has none. One
    query: every journey's steps (a customer has a few), each saying whether the user is an agent of
    its team."""
    mine = Agent.teams.through.objects.filter(agent__user_id=getattr(user, "pk", None), team_id=OuterRef("team_id"))
    by_journey, team_ids = defaultdict(list), set()
    for step in (JourneyStep.objects.filter(journey__customer=customer).annotate(mine=Exists(mine))
                 .select_related("journey__playbook", "journey__version", "team__manager")
                 .defer("journey__version__steps").order_by("journey_id", "position", "id")):
        by_journey[step.journey_id].append(step)
        if step.mine:
            team_ids.add(step.team_id)
    if not by_journey:
        return JourneyStrip(None)
    journeys = sorted((steps[0].journey for steps in by_journey.values()), key=_recency, reverse=True)
    current = journeys[0]
    rows = []
    for step in by_journey[current.pk]:
        step.journey = current
        status = step_status(step, now)
        row = StepRow(step, status, LABELS[status], describe(step.signals))
        if status in ("upcoming", "overdue", "missed") and matches(step.signals, MARKED) and user is not None:
            refusal = mark_refusal(user, step, team_ids)
            row.can_mark, row.refusal = refusal is None, str(refusal) if refusal is not None else ""
        rows.append(row)
    return JourneyStrip(current, rows, journeys[1:])


# --- the agent home: my overdue steps ------------------------------------------------------------
OVERDUE_SHOWN = 20  # the agent home lists this many, the most overdue first


def overdue_steps(user, now, limit=OVERDUE_SHOWN):
    """Steps past due and not done, of the user's teams, that nobody else holds: the customer is the
    user's, or the step's missed_touchpoint is assigned to them or to nobody. Oldest due first."""
    agent = agent_of(user)
    if agent is None:
        return []
    exception = ExceptionCase.objects.filter(kind="missed_touchpoint", subject_key=_subject(OuterRef("pk")),
                                             status__in=OPEN_STATUSES)
    theirs = exception.exclude(assignee__isnull=True).exclude(assignee=agent)
    return list(JourneyStep.objects.filter(
        team__in=agent.teams.all(), journey__status=JourneyStatus.RUNNING, due_at__lt=now - ON_TIME_GRACE,
        state__in=(StepState.PENDING, StepState.MISSED))
        .exclude(Exists(theirs)).select_related("team", "journey__customer")
        .order_by("due_at", "id")[:limit])


def _subject(step_id):
    """subject_of(step id) in SQL."""
    return Concat(Value(subject_of("")), Cast(step_id, CharField()))


# --- the API ---------------------------------------------------------------------------------------
# What the API shows of a journey and its steps (a step's evidence and a version's steps stay unread).
_API_STEP_FIELDS = ("id", "journey_id", "customer_id", "position", "key", "name", "state", "due_at", "calendar_due_at",
                    "done_at", "duplicated", "team__slug", "team__name", "journey__customer_id", "journey__status",
                    "journey__started_at", "journey__ended_at", "journey__end_reason", "journey__playbook__name",
                    "journey__version__number")


def attach_journeys(customers):
    """Set `current_journey` (the running one, else the latest; None without one) and `journey_steps`
    (its steps in order) on each customer: one query for a page of customers (every journey's steps:
    a customer has a few journeys)."""
    customers = list(customers)
    for customer in customers:
        customer.current_journey, customer.journey_steps = None, []
    if not customers:
        return customers
    by_journey = defaultdict(list)
    for step in (JourneyStep.objects.filter(customer_id__in=[c.pk for c in customers])
                 .select_related("journey__playbook", "journey__version", "team").only(*_API_STEP_FIELDS)
                 .order_by("journey_id", "position", "id")):
        by_journey[step.journey_id].append(step)
    current = {}
    for steps in by_journey.values():
        journey = steps[0].journey
        best = current.get(journey.customer_id)
        if best is None or _recency(journey) > _recency(best):
            current[journey.customer_id] = journey
    for customer in customers:
        journey = current.get(customer.pk)
        if journey is not None:
            customer.current_journey, customer.journey_steps = journey, by_journey[journey.pk]
    return customers


def _recency(journey):
    """The running journey first, then the one that ended last."""
    return (journey.ended_at is None, journey.ended_at or journey.started_at, journey.started_at, journey.pk)


# --- the dashboard ---------------------------------------------------------------------------------
COMPLETION = """SELECT
    (SELECT count(*) FROM {journey} WHERE status = '{running}'),
    (SELECT count(*) FROM {journey} WHERE status = '{completed}' AND ended_at >= %(since)s),
    (SELECT count(*) FROM {journey} WHERE status = '{exited}' AND ended_at >= %(since)s),
    d.due, d.on_time, d.late, d.missed
  FROM (SELECT count(*) AS due, count(*) FILTER (WHERE state = '{done}') AS on_time,
               count(*) FILTER (WHERE state = '{late}') AS late, count(*) FILTER (WHERE state = '{missed}') AS missed
          FROM {step} WHERE due_at >= %(since)s AND due_at < %(until)s AND state <> '{skipped}') d"""


def completion(now, days=30):
    """The dashboard's journey figures, in one query: running journeys; those that ended in the last
    `days` days, completed or early; the steps due in that window (skipped ones aside) done on time,
    late or missed."""
    since, until = now - timedelta(days=days), now - ON_TIME_GRACE
    sql = COMPLETION.format(journey=table(Journey), step=table(JourneyStep), running=JourneyStatus.RUNNING.value,
                            completed=JourneyStatus.COMPLETED.value, exited=JourneyStatus.EXITED.value,
                            done=StepState.DONE.value, late=StepState.LATE.value, missed=StepState.MISSED.value,
                            skipped=StepState.SKIPPED.value)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, {"since": adapt(since), "until": adapt(until)})
        running, completed, exited, due, on_time, late, missed = (n or 0 for n in cursor.fetchone())
    ended = completed + exited
    return {"running": running, "completed": completed, "exited": exited, "due": due, "on_time": on_time,
            "late": late, "missed": missed, "days": days,
            "completion_rate": completed / ended if ended else None, "on_time_rate": on_time / due if due else None}


# --- the journey map -------------------------------------------------------------------------------
STATES = [("on_time", Q(state=StepState.DONE)), ("late", Q(state=StepState.LATE)),
          ("missed", Q(state=StepState.MISSED)), ("duplicated", Q(duplicated=True)),
          ("upcoming", Q(state=StepState.PENDING)), ("skipped", Q(state=StepState.SKIPPED))]


def _counts():
    return {name: Count("id", filter=where) for name, where in STATES}


@dataclass
class JourneyMap:
    playbook: Playbook | None
    playbooks: list
    since: object
    journeys: int = 0
    steps: list = field(default_factory=list)  # {key, name, position, counts…}
    teams: list = field(default_factory=list)  # {team, counts…}
    cohorts: list = field(default_factory=list)  # {week, journeys, completed, exited, counts…, by_step: {key: rate}}
    abandoned: list = field(default_factory=list)  # {after: step name or None, position, journeys}
    silent: int = 0


def journey_map(*, playbook_id=None, weeks=12, now):
    """Per step, per team and per weekly purchase cohort (the week of the payment that started the
    journey): steps done on time, late, missed, duplicated (and upcoming, skipped), for journeys of one
    playbook that started in the last `weeks` weeks; and where customers went silent: for journeys
    ended early or with a missed step after the last one done, that last done step."""
    playbooks = list(Playbook.objects.annotate(n=Count("journeys")).order_by("-n", "priority", "id"))
    chosen = next((p for p in playbooks if p.pk == playbook_id), playbooks[0] if playbooks else None)
    since = now - timedelta(weeks=weeks)
    result = JourneyMap(chosen, playbooks, since)
    if chosen is None:
        return result
    journeys = Journey.objects.filter(playbook=chosen, started_at__gte=since)
    steps = JourneyStep.objects.filter(journey__in=journeys)
    names = {s["position"]: s["name"] for s in _latest_steps(chosen)}
    keys = {s["key"]: s for s in _latest_steps(chosen)}
    for row in steps.values("key").annotate(position=Coalesce(Max("position"), 0), **_counts()).order_by("position"):
        known = keys.get(row["key"])
        result.steps.append({**row, "name": known["name"] if known else row["key"]})
    team_names = dict(Team.objects.values_list("pk", "name"))
    result.teams = [{**row, "team": team_names.get(row["team_id"], "")}
                    for row in steps.values("team_id").annotate(**_counts()).order_by("team_id")]
    by_week = {row["week"]: row for row in journeys.annotate(week=TruncWeek("started_at")).values("week").annotate(
        journeys=Count("id"), completed=Count("id", filter=Q(status=JourneyStatus.COMPLETED)),
        exited=Count("id", filter=Q(status=JourneyStatus.EXITED))).order_by("week")}
    result.journeys = sum(row["journeys"] for row in by_week.values())
    cells = steps.annotate(week=TruncWeek("journey__started_at")).values("week", "key").annotate(
        due=Count("id", filter=~Q(state__in=(StepState.PENDING, StepState.SKIPPED))),
        on_time=Count("id", filter=Q(state=StepState.DONE)))
    rates = defaultdict(dict)
    for cell in cells:
        rates[cell["week"]][cell["key"]] = cell["on_time"] / cell["due"] if cell["due"] else None
    totals = {row["week"]: row for row in steps.annotate(week=TruncWeek("journey__started_at")).values("week")
              .annotate(**_counts())}
    for week, row in by_week.items():
        result.cohorts.append({**row, **{k: v for k, v in totals.get(week, {}).items() if k != "week"},
                               "week": timezone.localtime(week).date(), "by_step": rates.get(week, {})})
    result.abandoned, result.silent = _abandoned(chosen, since, names)
    return result


def _latest_steps(playbook):
    version = playbook.versions.order_by("-number").values_list("steps", flat=True).first()
    return version or []


SILENT = """SELECT last_done, count(*) FROM (
    SELECT j.status, max(s.position) FILTER (WHERE s.state IN ('{done}', '{late}')) AS last_done,
           max(s.position) FILTER (WHERE s.state = '{missed}') AS last_missed
      FROM {journey} j JOIN {step} s ON s.journey_id = j.id
     WHERE j.playbook_id = %(playbook)s AND j.started_at >= %(since)s AND j.status <> '{completed}'
     GROUP BY j.id, j.status) x
 WHERE status = '{exited}' OR last_missed > COALESCE(last_done, 0)
 GROUP BY last_done ORDER BY count(*) DESC, last_done"""


def _abandoned(playbook, since, names):
    """Journeys that went silent (ended early, or a step missed after the last one done) by the last
    step done before it: [{after, position, journeys}], most first; and how many went silent."""
    sql = SILENT.format(journey=table(Journey), step=table(JourneyStep), done=StepState.DONE.value,
                        late=StepState.LATE.value, missed=StepState.MISSED.value,
                        completed=JourneyStatus.COMPLETED.value, exited=JourneyStatus.EXITED.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"playbook": playbook.pk, "since": connection.ops.adapt_datetimefield_value(since)})
        found = cursor.fetchall()
    rows = [{"position": last, "after": names.get(last) if last else None, "journeys": n} for last, n in found]
    return rows, sum(row["journeys"] for row in rows)
