from lifecycle.models.base import AppendOnlyError
from lifecycle.models.customers import STAGE_TRANSITIONS, Customer, CustomerIdentity, IdentityKind, Stage
from lifecycle.models.exceptions import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    ExceptionCase,
    ExceptionKind,
    ExceptionPolicy,
    ExceptionStatus,
    Severity,
)
from lifecycle.models.health import Band, HealthPolicy, HealthScore, HealthSnapshot
from lifecycle.models.journeys import (
    DueTrigger,
    Journey,
    JourneyStatus,
    JourneyStep,
    OrderKind,
    Playbook,
    PlaybookStep,
    PlaybookVersion,
    ReEntry,
    StepState,
)
from lifecycle.models.orders import (
    DEAD_STATES,
    ORDER_TRANSITION_BY_TARGET,
    PAID_STATES,
    Order,
    OrderSourceState,
    OrderState,
    System,
)
from lifecycle.models.ownership import Handoff, Ownership, StagePolicy
from lifecycle.models.reconcile import ReconcileWatermark, ToleranceRule
from lifecycle.models.routing import RoutingRule
from lifecycle.models.teams import Agent, Holiday, RoutingMode, Team
from lifecycle.models.timeline import EventKind, EventSource, TimelineEvent

__all__ = [
    "Band",
    "HealthPolicy",
    "HealthScore",
    "HealthSnapshot",
    "DueTrigger",
    "Journey",
    "JourneyStatus",
    "JourneyStep",
    "OrderKind",
    "Playbook",
    "PlaybookStep",
    "PlaybookVersion",
    "ReEntry",
    "StepState",
    "CLOSED_STATUSES",
    "ExceptionPolicy",
    "Severity",
    "RoutingRule",
    "Holiday",
    "RoutingMode",
    "OPEN_STATUSES",
    "ExceptionCase",
    "ExceptionKind",
    "ExceptionStatus",
    "AppendOnlyError",
    "STAGE_TRANSITIONS",
    "Customer",
    "CustomerIdentity",
    "IdentityKind",
    "Stage",
    "DEAD_STATES",
    "ORDER_TRANSITION_BY_TARGET",
    "PAID_STATES",
    "Order",
    "OrderSourceState",
    "OrderState",
    "System",
    "Handoff",
    "Ownership",
    "StagePolicy",
    "ReconcileWatermark",
    "ToleranceRule",
    "Agent",
    "Team",
    "EventKind",
    "EventSource",
    "TimelineEvent",
]
