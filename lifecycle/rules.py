"""Routing and handoff policy as pure functions: facts in, a decision out, no database."""

from dataclasses import dataclass, field


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


@dataclass
class AgentChoice:
    agent_id: int | None
    rule: str
    skipped: dict = field(default_factory=dict)  # agent id → why it was passed over


def skip_reason(load):
    if not load.is_active:
        return "deactivated"
    if not load.is_available:
        return "off shift"
    if load.open_items >= load.capacity:
        return f"at capacity ({load.open_items}/{load.capacity})"
    return None


def choose_least_loaded(loads, prefer=None):
    """The available agent with the lowest load relative to capacity; ties go to the lowest id.

    `prefer` keeps the current agent when they can still take the customer, so a stage move inside
    one team does not reshuffle who the customer talks to.
    """
    skipped, eligible = {}, []
    for load in loads:
        reason = skip_reason(load)
        if reason:
            skipped[load.agent_id] = reason
        else:
            eligible.append(load)
    if prefer is not None and any(load.agent_id == prefer for load in eligible):
        return AgentChoice(prefer, "sticky", skipped)
    if not eligible:
        return AgentChoice(None, "no_agent_available", skipped)
    best = min(eligible, key=lambda load: (load.ratio, load.open_items, load.agent_id))
    return AgentChoice(best.agent_id, "least_loaded", skipped)
