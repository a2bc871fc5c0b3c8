"""Routing and handoff policy as pure functions: facts in, a decision out, no database.

Two steps, each recorded on the handoff: the team (the first matching routing rule, else the stage's
default team), then the agent within the team by the team's routing mode. The services read the
facts (selectors), call these functions, and write what they decide.
"""

import heapq
import itertools
from dataclasses import dataclass, field, replace
from decimal import Decimal

ROUND_ROBIN, LEAST_LOADED, STICKY = "round_robin", "least_loaded", "sticky"
MANAGER_CHOICE = "manager_choice"
# Where the team came from when no rule decided: the stage's default team, or (re-routing an
# agent's work) the team that already owns the customer or the exception.
STAGE_DEFAULT, CURRENT_TEAM = "stage_default", "current_team"
# Passed-over agents a handoff names with their reasons; past this it counts the rest: a sentence
# names a few, and a team of 200 at capacity would store 200 reasons on every handoff.
SKIPPED_SHOWN = 10


# --- facts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerFacts:
    """What routing rules can match on. Sets hold every order's value: a rule for store "eu"
    matches a customer who has bought there at least once."""

    stage: str
    country: str = ""
    tags: frozenset = frozenset()
    stores: frozenset = frozenset()
    categories: frozenset = frozenset()
    order_total: Decimal | None = None  # the triggering (else the latest) order's total


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    open_items: int
    capacity: int
    is_available: bool = True
    is_active: bool = True

    @property
    def ratio(self):
        return self.open_items / self.capacity if self.capacity else float("inf")


@dataclass(frozen=True)
class Rule:
    """A routing rule's conditions and target (RoutingRule's fields; empty conditions match anything)."""

    pk: int
    team_id: int
    priority: int = 100
    is_active: bool = True
    stage: str = ""
    store: str = ""
    country: str = ""
    min_order_total: Decimal | None = None
    max_order_total: Decimal | None = None
    product_category: str = ""
    customer_tag: str = ""


# --- team --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamChoice:
    team_id: int
    rule_id: int | None = None  # None: `source` decided
    source: str = STAGE_DEFAULT


def _fold(value):
    # Tags and categories are typed by managers in rules and by shops on orders: "VIP" is "vip".
    return value.strip().casefold()


def folded(values):
    return frozenset(_fold(v) for v in values if isinstance(v, str) and v.strip())


def rule_matches(rule, facts):
    """Every condition the rule sets must hold; an empty condition matches anything.

    `rule` is a Rule, or anything with its attributes (a RoutingRule instance is read, never queried).
    Order value bounds are inclusive: "up to 500" includes an order of exactly 500.
    """
    if rule.stage and rule.stage != facts.stage:
        return False
    if rule.store and rule.store not in facts.stores:
        return False
    if rule.country and rule.country.upper() != (facts.country or "").upper():
        return False
    if rule.min_order_total is not None or rule.max_order_total is not None:
        if facts.order_total is None:
            return False  # a value band cannot match a customer without an order
        if rule.min_order_total is not None and facts.order_total < rule.min_order_total:
            return False
        if rule.max_order_total is not None and facts.order_total > rule.max_order_total:
            return False
    if rule.product_category and _fold(rule.product_category) not in facts.categories:
        return False
    if rule.customer_tag and _fold(rule.customer_tag) not in facts.tags:
        return False
    return True


def choose_team(rules, facts, default_team_id):
    """The first active rule (by priority, then id) that matches, else the stage default.

    Returns None when nothing matches and the stage has no default team.
    """
    for rule in sorted((r for r in rules if r.is_active), key=lambda r: (r.priority, r.pk)):
        if rule_matches(rule, facts):
            return TeamChoice(rule.team_id, rule.pk, source="rule")
    return TeamChoice(default_team_id, None) if default_team_id else None


# --- agent -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentDecision:
    agent_id: int | None
    mode: str
    skipped: dict = field(default_factory=dict)  # agent id → why they were passed over
    slot: int | None = None  # round robin: the slot this decision took (the team's counter value)
    fallback: str | None = None  # sticky: why the previous owner was not kept


def skip_reason(load):
    if not load.is_active:
        return "deactivated"
    if not load.is_available:
        return "off shift"
    if load.open_items >= load.capacity:
        return f"at capacity ({load.open_items}/{load.capacity})"
    return None


def split_eligible(loads):
    """(eligible loads ordered by agent id, {agent id: skip reason})."""
    skipped, eligible = {}, []
    for load in sorted(loads, key=lambda load: load.agent_id):
        reason = skip_reason(load)
        if reason:
            skipped[load.agent_id] = reason
        else:
            eligible.append(load)
    return eligible, skipped


def _least_loaded_key(load):
    # Relative load first (a capacity-10 agent with 5 is busier than a capacity-40 agent with 8),
    # then absolute, then the lowest id so the choice is deterministic.
    return (load.ratio, load.open_items, load.agent_id)


class _Room:
    """The agents with room during a run of decisions: who is least loaded (a heap with lazy
    deletion), the eligible in id order (round robin), and why the others are passed over."""

    def __init__(self, loads):
        eligible, self.skipped = split_eligible(loads)
        self.loads = {load.agent_id: load for load in loads}
        self.in_order = [load.agent_id for load in eligible]
        self.heap = [(*_least_loaded_key(load), load.open_items) for load in eligible]
        heapq.heapify(self.heap)

    def has_room(self, agent_id):
        return agent_id in self.loads and agent_id not in self.skipped

    def least_loaded(self):
        while self.heap:
            *_, agent_id, open_items = self.heap[0]
            if self.has_room(agent_id) and self.loads[agent_id].open_items == open_items:
                return agent_id
            heapq.heappop(self.heap)  # stale: the agent took an item or filled up since
        return None

    def take(self, agent_id):
        """One more item for the agent. An agent who fills up leaves the eligible, in a new skipped
        dict, so the decisions already made keep the reasons they were made with."""
        load = replace(self.loads[agent_id], open_items=self.loads[agent_id].open_items + 1)
        self.loads[agent_id] = load
        reason = skip_reason(load)
        if reason:
            self.skipped = {**self.skipped, agent_id: reason}
            self.in_order.remove(agent_id)
        else:
            heapq.heappush(self.heap, (*_least_loaded_key(load), load.open_items))


def choose_agent(mode, loads, *, slot=0, previous_agent_id=None, manager_choice=None):
    """The agent of the team who takes one item: choose_agents for a batch of one."""
    return choose_agents(mode, loads, [previous_agent_id], slot=slot, manager_choice=manager_choice)[0]


def choose_agents(mode, loads, previous, *, slot=0, manager_choice=None):
    """One decision per item, in order, each counting the items given before it: the agent of the
    team who takes it by the team's mode, agent_id None when nobody can. `previous` holds each
    item's previous owner (sticky's candidate) or None. O(items × log agents), so a team's whole
    backlog is decided at once.

    Round robin gives `slot` (the team's counter, taken under the team's row lock) to eligible
    agent number slot % n in id order, and the next slot to the next item. Each slot is used once,
    and consecutive slots walk the agents in turn, so over any run the counts differ by at most
    one while the roster is unchanged. A decision that assigns nobody takes no slot.

    `manager_choice` (an agent id) wins when that agent is in the team: a manager may knowingly
    load someone past capacity or give work to someone off shift. Otherwise the mode decides and
    the decision says why the choice was not followed.
    """
    if manager_choice is not None:
        if any(load.agent_id == manager_choice for load in loads):
            return [AgentDecision(manager_choice, MANAGER_CHOICE) for _ in previous]
        note = f"manager's choice {manager_choice} is not in this team: {mode}"
        return [replace(d, fallback=f"{note}; {d.fallback}" if d.fallback else note)
                for d in choose_agents(mode, loads, previous, slot=slot)]
    room = _Room(loads)
    decisions = []
    for previous_agent_id in previous:
        decision = _decide(mode, room, slot, previous_agent_id)
        if decision.agent_id is not None:
            room.take(decision.agent_id)
            slot += decision.slot is not None
        decisions.append(decision)
    return decisions


def _decide(mode, room, slot, previous_agent_id):
    skipped = room.skipped
    if mode == ROUND_ROBIN:
        if not room.in_order:
            return AgentDecision(None, mode, skipped)
        return AgentDecision(room.in_order[slot % len(room.in_order)], mode, skipped, slot=slot)
    if mode == STICKY:
        if previous_agent_id is not None and room.has_room(previous_agent_id):
            return AgentDecision(previous_agent_id, mode, skipped)
        if previous_agent_id is None:
            fallback = "no previous owner in this team"
        elif previous_agent_id in skipped:
            fallback = f"previous owner {previous_agent_id} {skipped[previous_agent_id]}"
        else:
            fallback = f"previous owner {previous_agent_id} is not in this team"
        return AgentDecision(room.least_loaded(), mode, skipped, fallback=f"{fallback}: least loaded")
    return AgentDecision(room.least_loaded(), LEAST_LOADED, skipped)


# --- the recorded decision ---------------------------------------------------------------------
@dataclass(frozen=True)
class RoutingDecision:
    team: TeamChoice
    agent: AgentDecision
    stage: str = ""

    @property
    def rule_ref(self):
        return self.team.rule_id if self.team.rule_id is not None else self.team.source

    @property
    def label(self):
        """Short, for Handoff.rule and lists: "rule:12/round_robin", "stage_default:onboarding/sticky"."""
        where = f"rule:{self.team.rule_id}" if self.team.rule_id is not None else f"{self.team.source}:{self.stage}"
        return f"{where}/{self.agent.mode}"[:120]

    def as_detail(self):
        """Full, for Handoff.detail: enough to answer "why this agent, and why not the others?"."""
        return {
            "rule_id": self.rule_ref,
            "stage": self.stage,
            "team_id": self.team.team_id,
            "mode": self.agent.mode,
            "agent_id": self.agent.agent_id,
            "slot": self.agent.slot,
            "skipped": {str(k): v for k, v in itertools.islice(self.agent.skipped.items(), SKIPPED_SHOWN)},
            "fallback": self.agent.fallback,
        } | ({"skipped_more": len(self.agent.skipped) - SKIPPED_SHOWN}
             if len(self.agent.skipped) > SKIPPED_SHOWN else {})
