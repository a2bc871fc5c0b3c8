"""Reads of the customer screen: one function per section, each a fixed number of queries.

The screen is benchmarked with 500 orders and 5,000 timeline events per customer: orders and
the timeline are read one page at a time with keyset cursors (no OFFSET, no COUNT over the
history), and per-row details are loaded for that page only. Sections whose data model does
not exist yet (journey) return None and the screen says "Not connected yet".
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from lifecycle import statuses
from lifecycle.actors import ActorKind
from lifecycle.db import routing as routing_rows
from lifecycle.db.sql import frozen_columns, raw_columns
from lifecycle.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Agent,
    Customer,
    EventKind,
    EventSource,
    ExceptionCase,
    ExceptionKind,
    ExceptionStatus,
    Handoff,
    Order,
    OrderSourceState,
    OrderState,
    Stage,
    System,
    Team,
    TimelineEvent,
)
from lifecycle.selectors import health, journeys, wording
from lifecycle.selectors.pages import Page, keyset_page
from lifecycle.selectors.visibility import agent_of, customers_visible_to, exceptions_visible_to, may_ask_who_owns
from lifecycle.selectors.waiting import SEE_EXCEPTIONS, waiting_for

HANDOFFS_SHOWN = 5  # the latest few; the full list is one link away
ORDERS_PER_PAGE = 20
EVENTS_PER_PAGE = 30
CLOSED_EXCEPTIONS_SHOWN = 10  # the exception history's latest entries; the queue admin has the rest
# Permissions the queue services check (lifecycle/services/queues.py); repeated here only to
# decide which buttons to show. The services decide.
ASSIGN = "lifecycle.assign_exceptioncase"
DISMISS = "lifecycle.dismiss_exceptioncase"
WORK = "lifecycle.change_exceptioncase"
# A status interpreter's answer for a raw status its system has no mapping for.
UNMAPPED = statuses.UNMAPPED
# evidence["source"] of the mismatches reconciliation owns (lifecycle/services/reconcile.py's SOURCE).
RECONCILIATION = "reconciliation"
# The timeline source of what the ERP and the CRM say (lifecycle/services/timeline.py's source_of).
_EVENT_SOURCES = {System.ERP: EventSource.ERP, System.CRM: EventSource.CRM}


# --- the customer --------------------------------------------------------------------------------
def customer_for_screen(user, customer_id, *, extend=None):
    """The customer if the user may see it, with its owner and health loaded; None otherwise (one query).

    `extend`: a function of the queryset adding what the caller's other sections read beside the
    customer (the integrations' columns: lifecycle knows nothing of them), in this one query."""
    queryset = health.with_health(Customer.objects.filter(pk=customer_id).select_related(
        "ownership__team", "ownership__agent__user", "ownership__last_handoff"
    ))
    if extend is not None:
        queryset = extend(queryset)
    return customers_visible_to(user, queryset).first()


CONTACTS_SHOWN = 5  # a team's agents named on the refusal page; more is a list nobody reads


@dataclass
class OwnedElsewhere:
    """What a support agent may know of a customer they may not open: who owns it, its stage, whom to
    ask. Never the customer's name, email or phone (search does not show them either)."""

    team: object  # Team or None (no owning team yet: only managers can help)
    stage_label: str
    manager: str  # the team's manager's name, "" when it has none
    agents: list  # the team's active agents' names (the first CONTACTS_SHOWN), when it has no manager
    more_agents: bool


def customer_owned_elsewhere(user, customer_id):
    """For a customer the user may not open: its OwnedElsewhere, if the user may be told
    (visibility.may_ask_who_owns) and the customer exists; None otherwise (at most two queries)."""
    if not may_ask_who_owns(user):
        return None
    customer = Customer.objects.filter(pk=customer_id).select_related("ownership__team__manager").first()
    if customer is None:
        return None
    try:
        team = customer.ownership.team
    except Customer.ownership.RelatedObjectDoesNotExist:
        team = None
    manager, agents = "", []
    if team is not None and team.manager is not None and team.manager.is_active:
        manager = team.manager.get_full_name() or team.manager.get_username()
    elif team is not None:
        agents = [str(agent) for agent in Agent.objects.filter(teams=team, user__is_active=True)
                  .select_related("user").order_by("user__first_name", "user__last_name", "user__username")
                  [: CONTACTS_SHOWN + 1]]
    return OwnedElsewhere(team=team, stage_label=customer.get_stage_display(), manager=manager,
                          agents=agents[:CONTACTS_SHOWN], more_agents=len(agents) > CONTACTS_SHOWN)


# --- owner and handoffs ---------------------------------------------------------------------------
@dataclass
class OwnerSection:
    ownership: object  # Ownership or None
    handoffs: list
    more_handoffs: bool


def customer_owner(customer, *, limit=HANDOFFS_SHOWN, book=None):
    """The owner (team, agent, since, the handoff that made it) and the latest handoffs, each with its
    decision in a sentence (`handoff.sentence`, worded on first read) and the names of the teams and
    agents it moved the customer between (`from_team_name`, `from_agent_name`, `to_team_name`,
    `to_agent_name`; None for none): one query, plus one when first read for the names the rows do
    not carry (`book`, a wording.NameBook the page may share)."""
    try:
        ownership = customer.ownership
    except Customer.ownership.RelatedObjectDoesNotExist:
        ownership = None
    handoffs = list(
        Handoff.objects.filter(customer=customer).select_related("actor_user")
        .annotate(**raw_columns(_route_names(connection.vendor))).order_by("-created_at", "-id")[: limit + 1]
    )
    shown = handoffs[:limit]
    if ownership is not None and ownership.last_handoff_id is not None:
        # the latest handoff made the owner: read it (and its actor) from the list when it is there
        ownership.last_handoff = next((h for h in handoffs if h.pk == ownership.last_handoff_id),
                                      ownership.last_handoff)
    decided = [ownership.last_handoff] if ownership is not None and ownership.last_handoff is not None else []
    book = book if book is not None else wording.NameBook()
    book.add_handoffs(shown + [h for h in decided if h not in shown])
    for handoff in shown + decided:
        handoff.sentence = wording.Sentence(book, handoff)
    return OwnerSection(ownership, shown, len(handoffs) > limit)


def _team_name(team_id):
    return Subquery(Team.objects.filter(pk=OuterRef(team_id)).values("name")[:1])


def _agent_name(agent_id):
    return Subquery(Agent.objects.filter(pk=OuterRef(agent_id)).values(name=wording.full_name("user__"))[:1])


@functools.cache
def _route_names(vendor):
    """A handoff's teams and agents by name, as columns of its own row compiled once (frozen_columns):
    joined instead (two teams, two agents, their users), PostgreSQL took 5 ms to plan the handoffs'
    read, fifty times its run."""
    return frozen_columns(Handoff.objects.annotate(
        from_team_name=_team_name("from_team_id"), to_team_name=_team_name("to_team_id"),
        from_agent_name=_agent_name("from_agent_id"), to_agent_name=_agent_name("to_agent_id")))


# --- stage ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageMove:
    name: str
    label: str
    target: str
    target_label: str
    backward: bool


@dataclass
class StageSection:
    stage: str
    label: str
    changed_at: datetime | None
    moves: list


def customer_stage(customer, user):
    """The stage and the moves this user may take from it (permissions come cached with the user)."""
    moves = [
        StageMove(t.name, t.custom["label"], t.target, Stage(t.target).label, t.custom.get("backward", False))
        for t in customer.get_available_user_stage_transitions(user)
    ]
    return StageSection(customer.stage, customer.get_stage_display(), customer.stage_changed_at,
                        sorted(moves, key=lambda move: move.backward))


# --- orders ---------------------------------------------------------------------------------------
# A status interpreter says what canonical state each (order, source state) pair means: a state,
# UNMAPPED, or None when it cannot tell. Mappings live with the integrations (lifecycle never
# imports them), so the caller passes one in; it may make one query for the whole page.
StatusInterpreter = Callable[[list[tuple[Order, OrderSourceState]]], list[str | None]]


@dataclass
class ToleranceNote:
    """A reconciliation rule the order's open state_mismatch says is broken (its evidence), with the
    time left in its window now (`left`), or since when it is outside (`outside_since`)."""

    sentence: str
    window_minutes: int
    since: datetime | None  # when the rule's leading system said what it said
    left: timedelta | None  # time left in the tolerance window; None when outside
    outside_since: datetime | None  # None while within

    @classmethod
    def of(cls, rule, now):
        since = _parsed(rule.get("since"))
        window = timedelta(minutes=int(rule.get("window_minutes") or 0))
        due = since + window if since is not None else None
        within = due is not None and due > now
        return cls(sentence=str(rule.get("sentence") or ""), window_minutes=int(rule.get("window_minutes") or 0),
                   since=since, left=due - now if within else None,
                   outside_since=None if within else (due or _parsed(rule.get("outside_since"))))


def _parsed(moment):
    try:
        return datetime.fromisoformat(moment) if moment else None
    except (TypeError, ValueError):
        return None


@dataclass
class SourceCell:
    system: str
    raw_status: str
    observed_at: datetime
    mapped: str | None = None  # the canonical state it means, UNMAPPED, or None (unknown)
    disagrees: bool = False
    event_ref: str = ""  # what carried it (an ERP import's "erp-import:<id>/<line>", a webhook's delivery...)
    # The rules naming this system that reconciliation's open mismatch of the order says are broken.
    tolerances: list = field(default_factory=list)


@dataclass
class OrderRow:
    """One order, its systems' statuses, and the exception behind any disagreement.

    A row is highlighted (`flagged`) only when an open exception owns its disagreement: its
    `state_mismatch` (`mismatch`) or the `unmapped_status` that tracks the status it waits on
    (`waiting.exception`). A disagreement nobody owns (`unowned`) is shown without highlight,
    with the last closed exception behind it (`closed`), if any.
    """

    order: Order
    cells: list  # one per system in System order: a SourceCell, or None when that system said nothing
    disagreements: list = field(default_factory=list)  # how its systems disagree, in words
    # Why the order waits (lifecycle/selectors/waiting.py): its own system's status has no mapping.
    # Said instead of that cell's "has no mapping" disagreement.
    waiting: object = None
    # The open state_mismatch of the order (queue and assignee loaded, `visible`: whether the user
    # may open it); None when none is open or the user may not read exceptions.
    mismatch: ExceptionCase | None = None
    # When the row disagrees and no exception owns it: the last closed exception that did (its
    # `closed_by`: who closed it, in words, "" when not recorded), else None.
    closed: ExceptionCase | None = None
    exceptions_read: bool = False  # whether the user may read exceptions; else none is looked up or named

    @property
    def exceptions(self):
        """The open exceptions that own the row's disagreement."""
        tracker = self.waiting.exception if self.waiting else None
        return [item for item in (self.mismatch, tracker) if item is not None]

    @property
    def disagrees(self):
        return bool(self.disagreements or self.waiting)

    @property
    def flagged(self):
        return bool(self.exceptions)

    @property
    def unowned(self):
        return self.disagrees and not self.exceptions


@dataclass
class OrdersPage(Page):
    systems: list = field(default_factory=list)  # (value, label, connected) per system, in System order




def _label(state):
    return OrderState(state).label if state in OrderState.values else state


def _compare(row, labels):
    for cell in row.cells:
        if cell is None or cell.mapped is None:
            continue
        if cell.mapped == UNMAPPED:
            cell.disagrees = True
            if not (row.waiting and row.waiting.system == cell.system):
                row.disagreements.append(f"{labels[cell.system]} status “{cell.raw_status}” has no mapping")
            continue
        if not statuses.agrees(cell.mapped, row.order.state):
            cell.disagrees = True
            row.disagreements.append(
                f"{labels[cell.system]} says {_label(cell.mapped)}, canonical is {row.order.get_state_display()}"
            )
    # Systems that each agree with the canonical state agree (the shop's paid beside the ERP's
    # shipped): how long one may stay behind another is reconciliation's tolerance, shown in its cell.


def customer_orders(customer, *, after=None, before=None, limit=ORDERS_PER_PAGE, interpret=None, user=None):
    """One page of orders, newest first, each with every system's raw status beside the canonical state,
    why it waits when its own system's status has no mapping (`row.waiting`), and the exception that
    owns a disagreement, or the last one that did (OrderRow).

    Two queries (the page with an open-mismatch flag, then the page's source states), one more for
    the systems that reported on this customer but not on the page, plus what `interpret` needs (a
    StatusInterpreter), plus one for the exceptions behind the rows that disagree, wait or have an
    open mismatch (open and closed, with who closed them), when some row does and `user` may read
    exceptions.
    """
    mismatch = ExceptionCase.objects.filter(order_id=OuterRef("pk"), kind=ExceptionKind.STATE_MISMATCH,
                                            status__in=OPEN_STATUSES)
    orders = Order.objects.filter(customer=customer).annotate(mismatch_open=Exists(mismatch))
    page = keyset_page(orders, field_name="placed_at", after=after, before=before, limit=limit)
    by_order = {}
    if page.rows:
        for state in OrderSourceState.objects.filter(order_id__in=[o.pk for o in page.rows]).order_by("system"):
            by_order.setdefault(state.order_id, {})[state.system] = state
    pairs = [(order, state) for order in page.rows for state in by_order.get(order.pk, {}).values()]
    meanings = interpret(pairs) if interpret and pairs else [None] * len(pairs)
    mapped = {id(state): meaning for (_, state), meaning in zip(pairs, meanings, strict=True)}
    systems = list(System)
    labels = dict(System.choices)
    reporting = _reporting_systems(customer, {state.system for _, state in pairs})
    rows = []
    for order in page.rows:
        states = by_order.get(order.pk, {})
        cells = [
            SourceCell(s, states[s].raw_status, states[s].observed_at, mapped[id(states[s])],
                       event_ref=states[s].event_ref) if s in states else None
            for s in systems
        ]
        own = states.get(order.system)
        row = OrderRow(order, cells, waiting=waiting_for(order, own, mapped[id(own)]) if own else None)
        _compare(row, labels)
        rows.append(row)
    if user is not None and user.has_perm(SEE_EXCEPTIONS):
        _attach_exceptions(customer, user, rows)
    return OrdersPage(rows, page.newer, page.older,
                      systems=[(s.value, s.label, s in reporting) for s in systems])


def _attach_exceptions(customer, user, rows):
    """Set each row's open exceptions (its state_mismatch; its waiting's unmapped_status tracker, as
    waiting.attach_trackers does), and for a disagreement no open exception owns, the last closed one
    with who closed it (`closed_by`, from its latest "exception resolved" timeline event; "" for one
    without a customer timeline, a store's unmapped status). One query for the rows that disagree,
    wait or have an open mismatch; none when no row does."""
    for row in rows:
        row.exceptions_read = True
    asked = [row for row in rows if row.disagrees or row.order.mismatch_open]
    if not asked:
        return
    subjects = {row.waiting.subject_key for row in asked if row.waiting}
    wanted = Q(kind=ExceptionKind.STATE_MISMATCH, order_id__in=[row.order.pk for row in asked])
    if subjects:
        wanted |= Q(kind=ExceptionKind.UNMAPPED_STATUS, subject_key__in=subjects)
    visible = exceptions_visible_to(user, ExceptionCase.objects.filter(pk=OuterRef("pk")))
    closing = (TimelineEvent.objects.filter(customer_id=OuterRef("customer_id"), order_id=OuterRef("order_id"),
                                            kind=EventKind.EXCEPTION_RESOLVED)
               .annotate(exception_ref=Cast(KeyTextTransform("exception_id", "data"), BigIntegerField()))
               .filter(exception_ref=OuterRef("pk")).order_by("-occurred_at", "-id"))
    closer_name = wording.full_name("actor_user__")
    # Open ones first (no closed_at), then the latest closed: the first seen per subject is the one shown.
    items = (ExceptionCase.objects.filter(wanted).select_related("queue", "assignee__user").defer("evidence")
             .annotate(visible=Value(False) if visible.query.is_empty() else Exists(visible),
                       evidence_source=KeyTextTransform("source", "evidence"),
                       evidence_rules=KeyTransform("rules", "evidence"),
                       closer_kind=Subquery(closing.values("actor_kind")[:1]),
                       closer_ref=Subquery(closing.values("actor_ref")[:1]),
                       closer_name=Subquery(closing.annotate(name=closer_name).values("name")[:1]))
             .order_by(F("closed_at").desc(nulls_first=True), "-pk"))
    open_mismatch, closed_mismatch, open_tracker, closed_tracker = {}, {}, {}, {}
    for item in items:
        if item.kind == ExceptionKind.STATE_MISMATCH:
            key, opened, closed = item.order_id, open_mismatch, closed_mismatch
        else:
            key, opened, closed = item.subject_key, open_tracker, closed_tracker
        (opened if item.is_open else closed).setdefault(key, item)
    now = timezone.now()
    for row in asked:
        row.mismatch = open_mismatch.get(row.order.pk)
        if row.mismatch is not None and row.mismatch.evidence_source == RECONCILIATION:
            _attach_tolerances(row, row.mismatch.evidence_rules, now)
        if row.waiting:
            row.waiting.exception = open_tracker.get(row.waiting.subject_key)
            row.waiting.exception_visible = bool(row.waiting.exception and row.waiting.exception.visible)
        if row.unowned:
            row.closed = (closed_tracker.get(row.waiting.subject_key) if row.waiting
                          else closed_mismatch.get(row.order.pk))
        if row.closed is not None:
            item = row.closed
            item.closed_by = "" if item.closer_kind is None else (
                item.closer_name if item.closer_kind == ActorKind.USER and item.closer_name
                else wording.actor_text(item.closer_kind, item.closer_ref or ""))


def _attach_tolerances(row, rules, now):
    """Give each cell the broken rules (reconciliation's evidence) that name its system."""
    if not isinstance(rules, list):
        return
    for cell in row.cells:
        if cell is None:
            continue
        cell.tolerances = [ToleranceNote.of(rule, now) for rule in rules
                           if isinstance(rule, dict) and cell.system in (rule.get("left"), rule.get("right"))]


def _reporting_systems(customer, seen):
    """Systems that reported on this customer; WooCommerce is always connected.

    ERP and CRM count as reporting once one of their source states or timeline events exists for
    this customer: until then their column says they sent nothing; after, an order they have no
    record of says so in its own cell. Asks the database (one query) only about the systems the
    page did not show.
    """
    unseen = sorted({System.ERP, System.CRM} - seen)
    found = set()
    if unseen:
        # Names no relation of Customer can take (an app may add `crm_states`, as the CRM's did).
        checks = {}
        for system in unseen:
            checks[f"_reported_{system}_states"] = Exists(OrderSourceState.objects.filter(order__customer=customer,
                                                                                          system=system))
            checks[f"_reported_{system}_events"] = Exists(TimelineEvent.objects.filter(customer=customer,
                                                                                       source=_EVENT_SOURCES[system]))
        answers = Customer.objects.filter(pk=customer.pk).values(**checks).first() or {}
        found = {system for system in unseen
                 if answers.get(f"_reported_{system}_states") or answers.get(f"_reported_{system}_events")}
    return {System.WOOCOMMERCE} | seen | found


# --- exceptions -----------------------------------------------------------------------------------
@dataclass
class ExceptionRow:
    exception: ExceptionCase
    actions: frozenset  # of "claim", "release", "resolve", "dismiss", "assign": what this user may do
    agents: list = field(default_factory=list)  # (agent id, label) an assigner may pick
    due_in: timedelta | None = None  # negative when overdue

    @property
    def overdue(self):
        return self.due_in is not None and self.due_in.total_seconds() < 0


@dataclass
class ExceptionsSection:
    open: list
    closed: list
    more_closed: bool


def agent_choice_label(name, teams, held, capacity):
    """How an agent reads wherever someone picks one: "Amira Haddad (Sales, Support): 12 of 40 open
    items", ", at capacity" when full (console/admin/forms.py agent_label says it the same way)."""
    name = f"{name} ({', '.join(teams)})" if teams else name
    if held > capacity:  # counted only this far (lifecycle/db/routing.py held)
        more = ngettext("more than %(capacity)d open item", "more than %(capacity)d open items", capacity)
        return gettext("%(name)s: %(more)s, at capacity") % {"name": name, "more": more % {"capacity": capacity}}
    load = gettext("%(name)s: %(held)d of %(capacity)d open items") % {"name": name, "held": held,
                                                                       "capacity": capacity}
    return load + gettext(", at capacity") if held == capacity else load


def _assignable_agents():
    """Every active agent as (agent id, user id, label, team id or None, on shift), one query over
    memberships; the label names the agent's teams and what they hold against their capacity."""
    rows = list(
        Agent.objects.filter(user__is_active=True).annotate(held=routing_rows.held())
        .order_by("user__first_name", "user__last_name", "user__username", "teams__name")
        .values_list("pk", "user_id", "user__username", "user__first_name", "user__last_name", "teams",
                     "teams__name", "capacity", "is_available", "held")
    )
    teams = {}
    for pk, *_, team_name, _capacity, _available, _held_now in rows:
        if team_name is not None:
            teams.setdefault(pk, []).append(team_name)
    return [(pk, user_id, agent_choice_label(f"{first} {last}".strip() or username, teams.get(pk), held, capacity),
             team_id, available)
            for pk, user_id, username, first, last, team_id, _name, capacity, available, held in rows]


def customer_exceptions(customer, user, *, history=CLOSED_EXCEPTIONS_SHOWN):
    """Open exceptions (oldest due first) with the actions this user may take, and the latest closed.

    Two queries, plus, when the user may assign, one for the active agents once some exception is
    open (it also tells whether the user is one of them: counting every agent's load is most of the
    section's cost, for a dropdown only an open exception has), else one for the user's agent.
    Whether an exception sits in one of the user's teams' queues comes with the open exceptions. The
    queue services re-check it all on POST.
    """
    can_assign, can_dismiss, can_work = (user.has_perm(p) for p in (ASSIGN, DISMISS, WORK))
    base = exceptions_visible_to(user, ExceptionCase.objects.filter(customer=customer)).select_related(
        "queue", "assignee__user", "order"
    )
    in_my_team = Agent.teams.through.objects.filter(agent__user_id=user.pk, team_id=OuterRef("queue_id"))
    open_items = list(base.filter(status__in=OPEN_STATUSES).annotate(in_my_team=Exists(in_my_team))
                      .order_by("due_at", "opened_at", "id"))
    closed = list(base.filter(status__in=CLOSED_STATUSES).order_by("-closed_at", "-id")[: history + 1])
    # off-shift agents too: is the user one?
    memberships = _assignable_agents() if can_assign and open_items else []
    if can_assign:
        agent_id = next((pk for pk, user_id, *_ in memberships if user_id == user.pk), None)
    else:
        agent = agent_of(user) if can_work else None
        agent_id = agent.pk if agent else None
    # offered: the agents on shift (an off-shift agent takes no work: the form leaves them out too)
    everyone = list({pk: (pk, label) for pk, _, label, _, on_shift in memberships if on_shift}.values())
    by_team = {}
    for pk, _, label, team_id, on_shift in memberships:
        if team_id is not None and on_shift:
            by_team.setdefault(team_id, []).append((pk, label))
    now = timezone.now()
    rows = []
    for item in open_items:
        mine = agent_id is not None and (item.assignee_id == agent_id or item.in_my_team)
        may_work = can_assign or mine
        actions = set()
        if can_work and may_work:
            if agent_id and item.status == ExceptionStatus.OPEN and item.assignee_id in (None, agent_id):
                actions.add("claim")
            if item.status == ExceptionStatus.IN_PROGRESS:
                actions.add("release")
            if item.kind != ExceptionKind.UNASSIGNED_CUSTOMER:  # it closes when the customer gets an agent
                actions.add("resolve")
        if can_dismiss and may_work:
            actions.add("dismiss")
        if can_assign:
            actions.add("assign")
        agents = (by_team.get(item.queue_id, []) if item.queue_id else everyone) if can_assign else []
        rows.append(ExceptionRow(item, frozenset(actions), agents, item.due_at - now if item.due_at else None))
    return ExceptionsSection(rows, closed[:history], len(closed) > history)


# --- timeline -------------------------------------------------------------------------------------
TIMELINE_SOURCES = EventSource.choices


def customer_timeline(customer, *, source=None, after=None, before=None, limit=EVENTS_PER_PAGE):
    """One page of the customer's timeline, newest first, optionally of one source (one query)."""
    events = TimelineEvent.objects.filter(customer=customer).select_related("order", "actor_user")
    if source in EventSource.values:
        events = events.filter(source=source)
    return keyset_page(events, field_name="occurred_at", after=after, before=before, limit=limit)


# --- health (lifecycle/selectors/health.py) and sections whose data do not exist yet ---------------
def customer_health(customer):
    """Health score with each component's points in a sentence and the trend (a fixed three queries)."""
    return health.customer_health(customer)


def customer_journey(customer, user=None):
    """The 30-day journey strip (lifecycle/selectors/journeys.py): the current journey's steps and
    which of them `user` may mark done."""
    return journeys.customer_journey(customer, user, timezone.now())
