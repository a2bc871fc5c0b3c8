"""Routing and handoff policy as pure functions: facts in, a decision out, no database.

Two steps, each recorded on the handoff: the team (the first matching routing rule, else the stage's
default team), then the agent within the team by the team's routing mode. The services read the
facts (selectors), call these functions, and write what they decide.
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal

ROUND_ROBIN, LEAST_LOADED, STICKY = "round_robin", "least_loaded", "sticky"
MANAGER_CHOICE = "manager_choice"
# Where the team came from when no rule decided: the stage's default team, or (re-routing an
# agent's work) the team that already owns the customer or the exception.
STAGE_DEFAULT, CURRENT_TEAM = "stage_default", "current_team"


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


def _least_loaded(eligible):
    # Relative load first (a capacity-10 agent with 5 is busier than a capacity-40 agent with 8),
    # then absolute, then the lowest id so the choice is deterministic.
    return min(eligible, key=lambda load: (load.ratio, load.open_items, load.agent_id)).agent_id


def choose_agent(mode, loads, *, slot=0, previous_agent_id=None, manager_choice=None):
    """The agent of the team who takes the customer, by the team's mode; agent_id None when nobody can.

    Round robin gives `slot` (the team's counter, taken under the team's row lock) to eligible
    agent number slot % n in id order. Each slot is used once, and consecutive slots walk the
    agents in turn, so over any run the counts differ by at most one while the roster is unchanged.
    A decision that assigns nobody takes no slot.

    `manager_choice` (an agent id) wins when that agent is in the team: a manager may knowingly
    load someone past capacity or give work to someone off shift. Otherwise the mode decides and
    the decision says why the choice was not followed.
    """
    if manager_choice is not None:
        if any(load.agent_id == manager_choice for load in loads):
            return AgentDecision(manager_choice, MANAGER_CHOICE)
        decision = choose_agent(mode, loads, slot=slot, previous_agent_id=previous_agent_id)
        note = f"manager's choice {manager_choice} is not in this team: {decision.mode}"
        return replace(decision, fallback=f"{note}; {decision.fallback}" if decision.fallback else note)
    eligible, skipped = split_eligible(loads)
    if mode == ROUND_ROBIN:
        if not eligible:
            return AgentDecision(None, mode, skipped)
        return AgentDecision(eligible[slot % len(eligible)].agent_id, mode, skipped, slot=slot)
    if mode == STICKY:
        if previous_agent_id is not None and any(load.agent_id == previous_agent_id for load in eligible):
            return AgentDecision(previous_agent_id, mode, skipped)
        if previous_agent_id is None:
            fallback = "no previous owner in this team"
        elif previous_agent_id in skipped:
            fallback = f"previous owner {previous_agent_id} {skipped[previous_agent_id]}"
        else:
            fallback = f"previous owner {previous_agent_id} is not in this team"
        agent_id = _least_loaded(eligible) if eligible else None
        return AgentDecision(agent_id, mode, skipped, fallback=f"{fallback}: least loaded")
    agent_id = _least_loaded(eligible) if eligible else None
    return AgentDecision(agent_id, LEAST_LOADED, skipped)


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
            "skipped": {str(k): v for k, v in self.agent.skipped.items()},
            "fallback": self.agent.fallback,
        }
