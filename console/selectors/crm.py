"""What the console shows of the CRM beside its own owner and stage: the CRM's word on each customer
(its contact, owner and lifecycle stage, when last synced), the changes on their way or dead, and
the outbox's health for the dashboard.

Read here because lifecycle never imports integrations and integrations/crm writes; each read is a
fixed number of queries, whatever the number of customers, orders or messages:
- with_crm(queryset): no query of its own: columns on the page's own read of its customers (the
  customer screen's, the API's), crm_side reads them;
- customer_changes(side): one query, the newest message of each field of one customer, made only
  while one of them is pending or dead;
- outbox_health(now): three queries (the connections with their outbox's figures, the dead letters
  by cause, the pull cursors), one without an active connection.

One connection is shown: the first active one. CrmConnection allows several; the console has no
screen for a customer in two HubSpot accounts, and an inactive connection sends and reads nothing.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import (
    BigIntegerField,
    CharField,
    Count,
    JSONField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, NullIf

from integrations.crm.models import (
    HUBSPOT_STAGES,
    CrmConnection,
    CrmContact,
    CrmContactState,
    CrmCursor,
    CrmOwnerLink,
    CrmStageMapping,
    OutboundMessage,
)
from lifecycle.db.sql import frozen_columns, raw_columns
from lifecycle.selectors.wording import full_name
from lifecycle.models import (
    OPEN_STATUSES,
    Agent,
    Customer,
    ExceptionCase,
    ExceptionKind,
    Ownership,
    Team,
)

M = OutboundMessage.State
# The contact's fields: what the owner section shows on its way (deals are the orders' business).
CONTACT_FIELDS = [OutboundMessage.Field.CONTACT, OutboundMessage.Field.OWNER, OutboundMessage.Field.STAGE]
OWNER_PROPERTY, STAGE_PROPERTY = "hubspot_owner_id", "lifecyclestage"  # the properties the console sends
DELIVERED_WINDOW = timedelta(hours=1)  # "delivered in the last hour": the dashboard's throughput


def _active():
    return CrmConnection.objects.filter(is_active=True).order_by("pk")


@dataclass
class CrmSide:
    """One customer on the CRM connection: what the CRM says of it (`said`: "crm" once a pull or a
    webhook read it, "sent" while only what the console sent is known, "" for a customer without a
    contact yet), and, on the screen, what the console's owner and stage would be there."""

    connection_id: int
    connection_name: str
    stage_labels: dict
    contact_id: str = ""
    owner_id: str = ""
    owner_name: str = ""  # the console agent (or HubSpot's name) of that owner; "" when unknown
    stage: str = ""
    synced_at: datetime | None = None  # the latest of the last push and the last read
    said: str = ""
    # The screen's extras (with_crm(detail=True)):
    expected_owner_id: str | None = None  # the console agent's HubSpot owner; None: the agent has none
    expected_stage: str = ""  # the console stage's HubSpot stage; "": that stage is not sent
    owner_conflict_id: int | None = None  # the open ownership_conflict over the owner, if any
    stage_conflict_id: int | None = None  # and over the lifecycle stage
    in_flight: bool = False  # the newest message of some field is pending or dead: customer_changes reads them
    changes: list = field(default_factory=list)  # OutboxChange: pending or dead, newest per field

    @property
    def stage_label(self):
        return self.stage_labels.get(self.stage, self.stage)

    @property
    def expected_stage_label(self):
        return self.stage_labels.get(self.expected_stage, self.expected_stage)


def with_crm(queryset, *, detail=False, conflicts=False):
    """`queryset` (of customers) with each customer's CRM side as columns, read by crm_side: no query
    of its own, the page's own read of its customers carries it (the customer screen, the API).

    detail (the screen): also what the console's owner and stage are in HubSpot, and whether a
    change is on its way or dead; conflicts: also the open ownership conflicts (for users who may read
    exceptions). Each column is an index probe; without an active connection they are all NULL.

    The columns' SQL is compiled once per process (_frozen): built and compiled on each request,
    they cost the screen and a lookup more CPU (10 ms and 7 ms) than PostgreSQL spent on them."""
    return queryset.annotate(**raw_columns(_frozen(queryset.db, connections[queryset.db].vendor, detail, conflicts)))


@functools.lru_cache(maxsize=16)
def _frozen(alias, vendor, detail, conflicts):
    return frozen_columns(_columns(Customer.objects.using(alias).all(), detail=detail, conflicts=conflicts))


def _columns(queryset, *, detail, conflicts):
    """with_crm's columns as the ORM writes them; each refers to the customer's own columns only
    (frozen_columns refuses a join)."""
    contact = CrmContact.objects.filter(connection_id=OuterRef("crm_connection"), customer_id=OuterRef("pk"))
    state = CrmContactState.objects.filter(connection_id=OuterRef("crm_connection"), customer_id=OuterRef("pk"))
    connection = CrmConnection.objects.filter(pk=OuterRef("crm_connection"))
    columns = {
        "crm_name": Subquery(connection.values("name")[:1]),
        "crm_stage_options": Subquery(connection.values("stage_options")[:1], output_field=JSONField()),
        "crm_contact_id": Subquery(contact.values("contact_id")[:1]),
        "crm_sent_owner": Subquery(contact.values(v=KT(f"pushed__{OWNER_PROPERTY}"))[:1]),
        "crm_sent_stage": Subquery(contact.values(v=KT(f"pushed__{STAGE_PROPERTY}"))[:1]),
        "crm_sent_at": Subquery(contact.values("last_synced_at")[:1]),
        "crm_state_contact_id": Subquery(state.values("contact_id")[:1]),
        "crm_owner_id": Subquery(state.values("owner_id")[:1]),
        "crm_stage": Subquery(state.values("stage")[:1]),
        "crm_read_at": Subquery(state.values("synced_at")[:1]),
    }
    if detail:
        columns["crm_stage_expected"] = Subquery(CrmStageMapping.objects.filter(
            connection_id=OuterRef("crm_connection"), stage=OuterRef("stage")).values("hubspot_stage")[:1])
        agent = Ownership.objects.filter(customer_id=OuterRef(OuterRef("pk"))).values("agent_id")[:1]
        columns["crm_expected_owner"] = Subquery(CrmOwnerLink.objects.filter(
            connection_id=OuterRef("crm_connection"), agent_id=Subquery(agent)).values("owner_id")[:1])
        for value in CONTACT_FIELDS:  # the state of each field's newest message
            columns[f"crm_newest_{value}"] = Subquery(OutboundMessage.objects.filter(
                customer_id=OuterRef("pk"), field=value, connection_id=OuterRef("crm_connection"))
                .order_by("-id").values("state")[:1])
    if detail and conflicts:
        for what in ("owner", "stage"):  # integrations/crm/conflicts.py: one per customer and property
            columns[f"crm_{what}_conflict"] = Subquery(ExceptionCase.objects.filter(
                kind=ExceptionKind.OWNERSHIP_CONFLICT, status__in=OPEN_STATUSES,
                subject_key=Concat(Value("crm:"), Cast(OuterRef("crm_connection"), CharField()),
                                   Value(f"/{what}/customer:"), Cast(OuterRef("pk"), CharField()))).values("pk")[:1])
    return (queryset.annotate(crm_connection=Subquery(_active().values("pk")[:1]))
            .annotate(**columns)
            # The owner the CRM names (or was last sent), by the name the console gives the agent linked
            # to it: beside the console's "Sam Rivera", HubSpot's "Sam" would read as someone else.
            .annotate(crm_owner_ref=Coalesce("crm_owner_id", "crm_sent_owner", output_field=CharField()))
            .annotate(crm_owner_name=Subquery(
                CrmOwnerLink.objects.filter(connection_id=OuterRef("crm_connection"),
                                            owner_id=OuterRef("crm_owner_ref"))
                .exclude(owner_id="").order_by("agent_id")  # the agent conflicts name (integrations/crm/sides.py)
                .annotate(name=Coalesce(full_name("agent__user__"), NullIf("owner_name", Value("")),
                                        output_field=CharField()))
                .values("name")[:1])))


def crm_side(customer, *, detail=False):
    """The CrmSide of a customer read through with_crm: None without an active connection, and
    (unless `detail`) for a customer without a contact in the CRM yet."""
    row = customer.__dict__
    if row.get("crm_connection") is None:
        return None
    said = "crm" if row["crm_state_contact_id"] else "sent" if row["crm_contact_id"] else ""
    if not said and not detail:
        return None
    options = row["crm_stage_options"] or []
    synced = [moment for moment in (row["crm_sent_at"], row["crm_read_at"]) if moment is not None]
    side = CrmSide(
        connection_id=row["crm_connection"], connection_name=row["crm_name"],
        stage_labels={o["value"]: o["label"] for o in options} if options else dict(HUBSPOT_STAGES),
        contact_id=row["crm_state_contact_id"] or row["crm_contact_id"] or "",
        owner_id=(row["crm_owner_id"] if said == "crm" else row["crm_sent_owner"]) or "",
        owner_name=row["crm_owner_name"] or "",
        stage=(row["crm_stage"] if said == "crm" else row["crm_sent_stage"]) or "",
        synced_at=max(synced) if synced else None, said=said)
    if detail:
        agent_id = getattr(getattr(customer, "ownership", None), "agent_id", None)  # no ownership: no agent
        side.expected_owner_id = "" if agent_id is None else (row["crm_expected_owner"] or None)
        side.expected_stage = row["crm_stage_expected"] or ""
        side.owner_conflict_id, side.stage_conflict_id = row.get("crm_owner_conflict"), row.get("crm_stage_conflict")
        side.in_flight = any(row[f"crm_newest_{value}"] in (M.PENDING, M.DEAD)
                             for value in CONTACT_FIELDS)
    return side


# --- the changes on their way ------------------------------------------------------------------
@dataclass
class OutboxChange:
    """The newest message of one field of a customer, while it is pending or dead: its change with
    the names it carries (the agent and team of an owner change), and why it waits or died."""

    pk: int
    field: str
    state: str
    value: dict
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str
    error_kind: str
    agent_name: str | None
    team_name: str | None


def customer_changes(side, customer_id):
    """Set `side.changes`: the newest message of each field, when it is pending or dead (an older one
    is superseded at delivery, whatever its state, so it says nothing). One query."""
    newest = Q()
    for value in CONTACT_FIELDS:
        newest |= Q(pk=Subquery(OutboundMessage.objects.filter(customer_id=customer_id, field=value,
                                                               connection_id=side.connection_id)
                                .order_by("-id").values("pk")[:1]))
    agent = Agent.objects.filter(pk=OuterRef("agent_ref")).annotate(name=full_name("user__")).values("name")[:1]
    team = Team.objects.filter(pk=OuterRef("team_ref")).values("name")[:1]
    side.changes = [OutboxChange(**row) for row in (
        OutboundMessage.objects.filter(newest, state__in=[M.PENDING, M.DEAD])
        .annotate(agent_ref=Cast(KT("value__agent"), BigIntegerField()),
                  team_ref=Cast(KT("value__team"), BigIntegerField()))
        .annotate(agent_name=Subquery(agent), team_name=Subquery(team))
        .order_by("id")
        .values("pk", "field", "state", "value", "created_at", "next_attempt_at", "attempts", "last_error",
                "error_kind", "agent_name", "team_name"))]
    return side


# --- the dashboard -----------------------------------------------------------------------------
@dataclass
class OutboxHealth:
    """The CRM sync at a glance, over every active connection (usually one)."""

    connections: list  # names of the active connections
    pending: int = 0
    held: int = 0  # of the pending, those a failure or a missing HubSpot owner holds back
    oldest_pending: datetime | None = None  # the lag: the oldest change not delivered yet
    delivered_last_hour: int = 0
    dead: list = field(default_factory=list)  # {"cause", "count", "latest", "error"}, most first
    cursors: list = field(default_factory=list)  # {"object_type", "label", "success", "run", "error"}


def outbox_health(now):
    """The dashboard's CRM figures; None when no CRM connection is active (one query then, three else).

    Pending and dead read the outbox's partial indexes (a few rows, whatever the history). Delivered
    in the last hour reads the delivered rows (no index on delivered_at): the dashboard caches it a
    minute, as it does its other scans."""
    outbox = OutboundMessage.objects.filter(connection_id=OuterRef("pk")).order_by()
    pending = outbox.filter(state=M.PENDING)

    def count(queryset):
        return Coalesce(Subquery(queryset.values("connection_id").annotate(n=Count("pk")).values("n")), 0)

    connections = list(_active().annotate(
        pending=count(pending), held=count(pending.exclude(error_kind="")),
        oldest=Subquery(pending.order_by("pk").values("created_at")[:1]),
        delivered=count(outbox.filter(state=M.DELIVERED, delivered_at__gte=now - DELIVERED_WINDOW)),
    ).values("name", "pending", "held", "oldest", "delivered"))
    if not connections:
        return None
    oldest = [c["oldest"] for c in connections if c["oldest"] is not None]
    health = OutboxHealth(connections=[c["name"] for c in connections],
                          pending=sum(c["pending"] for c in connections), held=sum(c["held"] for c in connections),
                          oldest_pending=min(oldest) if oldest else None,
                          delivered_last_hour=sum(c["delivered"] for c in connections))
    active = Q(connection__is_active=True)
    dead = OutboundMessage.objects.filter(active, state=M.DEAD)
    newest_error = dead.filter(error_kind=OuterRef("error_kind")).order_by("-pk").values("last_error")[:1]
    health.dead = list(dead.order_by().values("error_kind").annotate(
        count=Count("pk"), latest=Max("created_at"), error=Subquery(newest_error))
        .values("error_kind", "count", "latest", "error").order_by("-count", "error_kind"))
    for item in health.dead:
        item["cause"] = item.pop("error_kind")
    labels = dict(CrmCursor.ObjectType.choices)
    health.cursors = [{"object_type": kind, "label": labels.get(kind, kind), "success": success, "run": run,
                       "error": error}
                      for kind, success, run, error in CrmCursor.objects.filter(active).order_by("object_type")
                      .values_list("object_type", "last_success_at", "last_run_at", "last_error")]
    return health
