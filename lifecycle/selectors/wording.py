"""What people read: routing decisions and actors in sentences instead of ids.

`routing_sentence` and `actor_text` are pure (names come in); `routing_names` looks the names up in one
query for a whole section (teams, agents, routing rules), and only for the ids the rows do not name.
Integrations' models (stores, deliveries) are looked up by the console, which passes their names in.
"""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import CharField, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.utils import timezone
from django.utils.dateformat import format as date_format_string
from django.utils.formats import get_format

from lifecycle import rules
from lifecycle.actors import ActorKind
from lifecycle.models import Agent, RoutingRule, Team


def full_name(prefix=""):
    """A user's name as str(Agent) says it, in SQL: the full name, else the username. `prefix`: the
    path to the user ("agent__user__", "actor_user__")."""
    return Coalesce(NullIf(Trim(Concat(f"{prefix}first_name", Value(" "), f"{prefix}last_name")), Value("")),
                    f"{prefix}username", output_field=CharField())


MANUAL = "manual"
CLAIM = "claim"  # lifecycle.services.assignment.CLAIM: an agent took a waiting customer
MODES = {
    rules.ROUND_ROBIN: "Round robin",
    rules.LEAST_LOADED: "Least loaded",
    rules.STICKY: "Sticky",
    rules.MANAGER_CHOICE: "Manager's choice",
}
_LABEL = re.compile(r"^(?P<where>rule|stage_default|current_team):(?P<what>[^/]*)/(?P<mode>\w+)$")
_PREVIOUS = re.compile(r"^previous owner (?P<id>\d+) (?P<why>.+?)(?:: least loaded)?$")
_NOT_IN_TEAM = re.compile(r"^manager's choice (?P<id>\d+) is not in this team: (?P<mode>\w+)$")
SHOP_SYNC = "sync_woocommerce"
# The tasks that act on their own (lifecycle/tasks.py, the integrations' tasks), by what they do.
TASKS = {
    SHOP_SYNC: "Shop sync",
    "route_waiting_customers": "Routing of waiting customers (an agent had room)",
    "sweep_sla": "SLA sweep",
    "assign_unowned_customers": "Owner repair (a customer with orders had no owner)",
    "erp_drop_folder": "ERP drop folder",
}
_TIME_CHARS = "aAfgGhHisuP"


@dataclass
class Names:
    """Names of the teams, agents and routing rules a section's decisions mention, by id."""

    teams: dict = field(default_factory=dict)
    agents: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)

    def team(self, team_id):
        return self.teams.get(_int(team_id)) or (f"team #{team_id}" if team_id is not None else "the team")

    def agent(self, agent_id):
        return self.agents.get(_int(agent_id)) or f"agent #{agent_id}"


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- routing decisions ------------------------------------------------------------------------------
def routing_sentence(rule, detail, names):
    """One sentence for people from a handoff's `rule` label and `detail` (lifecycle/rules.py's
    RoutingDecision): the mode, the team, the routing rule by name, who was passed over and why."""
    detail = detail or {}
    if rule == MANUAL:
        return "Reassigned by a manager"
    if rule == CLAIM:
        return "Claimed by the agent"
    match = _LABEL.match(rule or "")
    if match is None:
        return rule or ""
    mode = detail.get("mode") or match["mode"]
    team = names.team(detail.get("team_id"))
    routing_rule = ""
    if match["where"] == "rule":
        rule_id = _int(detail.get("rule_id")) or _int(match["what"])
        routing_rule = f" (routing rule “{names.rules.get(rule_id) or f'#{rule_id}'}”)"
    skipped = {_int(k): why for k, why in (detail.get("skipped") or {}).items()}
    agent_id = detail.get("agent_id")
    notes = []
    fallback = detail.get("fallback") or ""
    for part in [p for p in fallback.split("; ") if p]:
        notes.append(_fallback_words(part, names, skipped))
    if agent_id is None:
        return f"Nobody in {team} could take the customer{routing_rule}: {_nobody_why(skipped, names)}"
    head = f"{MODES.get(mode, mode.replace('_', ' ').capitalize())} in {team}{routing_rule}"
    if mode == rules.MANAGER_CHOICE:
        return f"{head}: {names.agent(agent_id)}"
    if mode == rules.STICKY and not fallback:
        notes.insert(0, f"kept {names.agent(agent_id)}")
    passed = _passed_over(skipped, names)
    if passed:
        more = _int(detail.get("skipped_more")) or 0
        notes.append(passed + (f" and {more} more were passed over" if more else ""))
    if not notes:
        return head
    return f"{head}: {'; '.join(notes)}" if mode == rules.STICKY else f"{head}; {'; '.join(notes)}"


def _fallback_words(part, names, skipped):
    previous = _PREVIOUS.match(part)
    if previous:
        agent_id = int(previous["id"])
        skipped.pop(agent_id, None)  # said here, not again among the passed over
        why = previous["why"]
        verb = "" if why.startswith("is ") else "was "
        return f"{names.agent(agent_id)} {verb}{why}, so the least loaded took over"
    not_in_team = _NOT_IN_TEAM.match(part)
    if not_in_team:
        return f"the manager's choice {names.agent(not_in_team['id'])} is not in this team"
    if part.startswith("no previous owner"):
        return "no previous owner in this team, so the least loaded took over"
    return part


def _passed_over(skipped, names):
    words = []
    for agent_id, why in skipped.items():
        words.append(f"{names.agent(agent_id)} {'' if words else 'was '}{why}")
    return ", ".join(words)


def _nobody_why(skipped, names):
    if not skipped:
        return "the team has no agent"
    kinds = {("at capacity" if why.startswith("at capacity") else why) for why in skipped.values()}
    if len(kinds) == 1:
        return f"all {kinds.pop()}"
    return _passed_over(skipped, names)


class NameBook:
    """The names a page's decisions mention, looked up at once, on first read, in one query: a UNION
    of one SELECT per model (teams, agents, routing rules) for the ids the rows do not name already,
    plus what other parts of the page add (`add_query`) before anything is read."""

    def __init__(self):
        self.names = Names()
        self.team_ids, self.agent_ids, self.rule_ids = set(), set(), set()
        self.before = []  # callables run once, just before the lookup: they may add queries
        self.queries = []  # querysets of (kind, pk, name, first, last) rows, kind other than ours
        self.rows = None  # after the lookup: the rows those queries answered

    def add_handoffs(self, handoffs):
        for handoff in handoffs:
            # names the row carries as columns (lifecycle/selectors/customers.py _route_names)
            for end in ("from", "to"):
                if getattr(handoff, f"{end}_team_name", None) is not None:
                    self.names.teams[getattr(handoff, f"{end}_team_id")] = getattr(handoff, f"{end}_team_name")
                if getattr(handoff, f"{end}_agent_name", None) is not None:
                    self.names.agents[getattr(handoff, f"{end}_agent_id")] = getattr(handoff, f"{end}_agent_name")
            detail = handoff.detail or {}
            self.team_ids.add(_int(detail.get("team_id")))
            self.agent_ids.add(_int(detail.get("agent_id")))
            self.agent_ids.update(_int(k) for k in (detail.get("skipped") or {}))
            for part in (detail.get("fallback") or "").split("; "):
                found = _PREVIOUS.match(part) or _NOT_IN_TEAM.match(part)
                if found:
                    self.agent_ids.add(int(found["id"]))
            match = _LABEL.match(handoff.rule or "")
            if match and match["where"] == "rule":
                self.rule_ids.add(_int(detail.get("rule_id")) or _int(match["what"]))

    def add_query(self, queryset):
        self.queries.append(queryset.order_by())

    def resolve(self):
        if self.rows is not None:
            return self.names
        self.rows = []
        for hook in self.before:
            hook(self)
        team_ids = self.team_ids - set(self.names.teams) - {None}
        agent_ids = self.agent_ids - set(self.names.agents) - {None}
        rule_ids = self.rule_ids - {None}
        parts = []
        if team_ids:
            parts.append(Team.objects.filter(pk__in=team_ids).order_by().annotate(kind=Value("team"))
                         .values_list("kind", "pk", "name", "slug", "description"))
        if agent_ids:
            parts.append(Agent.objects.filter(pk__in=agent_ids).order_by().annotate(kind=Value("agent"))
                         .values_list("kind", "pk", "user__username", "user__first_name", "user__last_name"))
        if rule_ids:
            parts.append(RoutingRule.objects.filter(pk__in=rule_ids).order_by().annotate(kind=Value("rule"))
                         .values_list("kind", "pk", "name", "store", "country"))
        parts += self.queries
        if not parts:
            return self.names
        for kind, pk, name, first, last in parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]:
            if kind == "team":
                self.names.teams[pk] = name
            elif kind == "rule":
                self.names.rules[pk] = name
            elif kind == "agent":  # as Agent.__str__ says it: the user's full name, else the username
                self.names.agents[pk] = f"{first} {last}".strip() or name
            else:
                self.rows.append((kind, pk, name, first, last))
        return self.names


class Sentence:
    """A handoff's decision in words, worded when the page first reads it (after every section
    added its ids to the book)."""

    def __init__(self, book, handoff):
        self.book, self.handoff = book, handoff

    def __str__(self):
        return routing_sentence(self.handoff.rule, self.handoff.detail, self.book.resolve())

    def __bool__(self):
        return bool(str(self))


def routing_names(handoffs):
    """Names for the decisions of `handoffs` (one query at most; see NameBook)."""
    book = NameBook()
    book.add_handoffs(handoffs)
    return book.resolve()


# --- actors -----------------------------------------------------------------------------------------
def webhook_ref(ref):
    """(store slug, delivery id or inbound event pk) of a webhook actor's ref ("demo/1234")."""
    slug, _, delivery = (ref or "").partition("/")
    return slug, delivery


def time_part(when):
    """`when` in the console's time zone, in the time part of SHORT_DATETIME_FORMAT ("12:03")."""
    fmt = get_format("SHORT_DATETIME_FORMAT")
    start = next((i for i, char in enumerate(fmt) if char in _TIME_CHARS), None)
    fmt = fmt[start:] if start is not None else get_format("TIME_FORMAT")
    return date_format_string(timezone.localtime(when) if settings.USE_TZ else when, fmt)


def actor_text(kind, ref, *, user=None, when=None, store_names=None):
    """Who did it, as people say it: a user's full name, "WooCommerce delivery 12:03, Main shop",
    "Shop sync", else "System"."""
    if kind == ActorKind.USER:
        if user is not None:
            return user.get_full_name() or user.get_username()
        return ref or "A former user"
    if kind == ActorKind.WEBHOOK:
        slug, _ = webhook_ref(ref)
        store = (store_names or {}).get(slug) or slug
        words = "WooCommerce delivery" + (f" {time_part(when)}" if when else "")
        return f"{words}, {store}" if store else words
    if kind == ActorKind.TASK and ref:
        # a task nobody named reads as its name; one that names itself ("HubSpot (CRM pull)") keeps its capitals
        text = ref.replace("_", " ")
        return TASKS.get(ref) or text[:1].upper() + text[1:]
    if kind == ActorKind.IMPORT and ref:
        # "ERP import #12", and by whom when a person started it
        by = user.get_full_name() or user.get_username() if user is not None else ""
        return f"{ref}, by {by}" if by else ref
    return "System"
