"""What completes a journey step, what re-times it and what ends a journey: the one vocabulary.

A step's `signals` is a list of entries, each "<kind>" or "<kind>:<detail>|<detail>…":

- "order_state_changed:<state>|…": the order that started the journey reached one of these
  canonical states, changed to it or arriving in it, as the shop, the ERP or the CRM reported it
  (e.g. "order_state_changed:paid", "order_state_changed:shipped|delivered|completed");
- "crm_activity:<type>|…": an activity of one of these types logged in the CRM for the customer
  ("email", "call", "meeting", "note", "task"); "crm_activity" alone: any activity;
- "touchpoint": a person of the step's team (or a manager) marked the step done, with a comment.

A kind without details matches any detail. Activities and marks are touchpoints (something said to
the customer): a step that receives a second one is flagged duplicated. An order reaching the next
state is progress, not a second touchpoint, and is ignored once the step is done.

Triggers re-time a step when they happen: "shipped" and "delivered" (the journey's order reached
the state). Exit criteria end a journey early: "refunded" and "cancelled" (the journey's order),
"churned" (the customer's stage).
"""

import functools
from dataclasses import dataclass

from lifecycle.models import DueTrigger, EventKind, OrderState, Stage
from lifecycle.services.timeline import ACTIVITY_LABELS

ORDER, CRM, TOUCHPOINT = "order_state_changed", "crm_activity", "touchpoint"
# kind → (the details it takes, or None for none; what it means, for the admin's help and errors)
VOCABULARY = {
    ORDER: (frozenset(OrderState.values), "the journey's order reached the state (shop, ERP or CRM)"),
    CRM: (frozenset(ACTIVITY_LABELS), "an activity of the type logged in the CRM"),
    TOUCHPOINT: (None, "a person marked the step done, with a comment"),
}
TOUCHPOINT_KINDS = frozenset({CRM, TOUCHPOINT})
TRIGGER_STATES = {DueTrigger.SHIPPED: OrderState.SHIPPED, DueTrigger.DELIVERED: OrderState.DELIVERED}
EXITS = {"refunded": "the order was refunded", "cancelled": "the order was cancelled",
         "churned": "the customer churned"}
# The timeline kinds the follower reads: an order arriving in a state counts as reaching it.
EVENT_KINDS = (EventKind.ORDER_CREATED, EventKind.ORDER_STATE_CHANGED, EventKind.CRM_ACTIVITY, EventKind.TOUCHPOINT,
               EventKind.STAGE_CHANGED)


def help_text():
    """The vocabulary in one paragraph, for the admin."""
    parts = []
    for kind, (details, meaning) in VOCABULARY.items():
        shown = f"{kind}:{'|'.join(sorted(details))}" if details else kind
        parts.append(f"“{shown}”: {meaning}")
    return "One signal per line. " + "; ".join(parts) + ". Several details are joined by |; none means any."


@functools.lru_cache(maxsize=512)
def parse(entry):
    """("kind", frozenset of details or None for any) of one entry (a string); ValueError saying what
    is wrong. Cached: the follower asks it for every step an event may complete."""
    text = str(entry).strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip()
    if kind not in VOCABULARY:
        known = ", ".join(f"“{k}”" for k in VOCABULARY)
        raise ValueError(f"“{text}” is not a signal: a signal starts with {known}.")
    allowed, _meaning = VOCABULARY[kind]
    details = frozenset(d.strip() for d in rest.split("|") if d.strip()) if rest.strip() else None
    if details and allowed is None:
        raise ValueError(f"“{text}”: {kind} takes no detail.")
    unknown = sorted(details - allowed) if details and allowed else []
    if unknown:
        raise ValueError(f"“{text}”: {', '.join(unknown)} is not one of {kind}'s details "
                         f"({', '.join(sorted(allowed))}).")
    return kind, details


def problems(entries):
    """What is wrong with a step's signals, one sentence each ([] when nothing)."""
    if not isinstance(entries, list):
        return ["Signals are a list of entries such as “crm_activity:email” or “touchpoint”."]
    found = []
    for entry in entries:
        try:
            parse(str(entry))
        except ValueError as error:
            found.append(str(error))
    return found


def exit_problems(entries):
    unknown = [e for e in entries or [] if e not in EXITS]
    return [f"“{e}” is not an exit criterion: use {', '.join(EXITS)}." for e in unknown]


@dataclass(frozen=True, slots=True)
class Signal:
    """What one timeline event says, for journeys."""

    kind: str  # ORDER, CRM, TOUCHPOINT, or "" when the event only re-times or ends (a stage change)
    detail: str | None  # the order state, the activity type
    exit: str | None = None  # the exit criterion it meets

    @property
    def is_touchpoint(self):
        return self.kind in TOUCHPOINT_KINDS


def signal_of(kind, data):
    """The Signal a timeline event of `kind` with `data` carries, or None."""
    if kind in (EventKind.ORDER_CREATED, EventKind.ORDER_STATE_CHANGED):
        state = data.get("to") if kind == EventKind.ORDER_STATE_CHANGED else data.get("state")
        return Signal(ORDER, state, state if state in ("refunded", "cancelled") else None)
    if kind == EventKind.CRM_ACTIVITY:
        return Signal(CRM, data.get("type"))
    if kind == EventKind.TOUCHPOINT:
        return Signal(TOUCHPOINT, None)
    if kind == EventKind.STAGE_CHANGED and data.get("to") == Stage.CHURNED:
        return Signal("", None, "churned")
    return None


def matches(entries, signal):
    """Whether a step whose signals are `entries` is completed by `signal`."""
    for entry in entries:
        try:
            kind, details = parse(str(entry))
        except ValueError:
            continue  # validated when saved; an entry no longer understood completes nothing
        if kind == signal.kind and (details is None or signal.detail in details):
            return True
    return False


def _words(kind, details):
    if kind == ORDER:
        states = [OrderState(d).label.lower() for d in sorted(details or [])] if details else ["changed"]
        return "the order was " + (" or ".join(states) if len(states) < 3 else
                                   ", ".join(states[:-1]) + " or " + states[-1])
    if kind == CRM:
        types = [ACTIVITY_LABELS[d].lower() for d in sorted(details or [])]
        return f"a CRM {' or '.join(types)} is logged" if types else "a CRM activity is logged"
    return "someone marks it done"


def describe(entries):
    """A step's signals in words: "the order was shipped or completed, or a CRM email is logged"."""
    said = []
    for entry in entries:
        try:
            said.append(_words(*parse(str(entry))))
        except ValueError:
            continue
    return ", or ".join(said) or "nothing (no signal is set)"
