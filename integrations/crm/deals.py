"""Deals: each CRM deal that names one of the console's orders is the CRM's word on that order.

A deal names its order by the `aftercare_order_key` property the console writes on the deals it
creates (order_key: "<system>:<store>:<number>", e.g. "woocommerce:main:1042"), or else by its name
("Order #1042": the shop's order with that number, when exactly one store has one). Its `dealstage`
means a canonical order state through the connection's deal stage mapping (editable, with history;
HubSpot's default pipeline has defaults) and becomes the order's CRM source state through the
domain's one way in, orders_observe, as the ERP's rows do: the domain decides stale, unmapped,
mismatch and orphan. Reconciliation hears what the CRM's stages mean (status_meanings_register) and
compares them with the shop's under the tolerance rule lifecycle ships (lifecycle 0018).

One path for pulls and webhooks: a webhook only says "deal 42's stage is now X"; its order is the one
the pulls recorded for the deal (CrmDeal), and a deal never pulled waits for the next pull.

The other way, the outbox pushes every order as a deal (deal_delivery.py) at the stage its canonical
state maps to (push_stages: the same mapping read backwards). A pulled stage equal to the one the
console last sent is its own write coming back (an echo): it is kept as the deal's stage, but is not
the CRM's word on the order, so it is no observation.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from integrations.crm.models import CrmConnection, CrmDeal, CrmDealStageMapping
from lifecycle.config_cache import ConfigCache
from lifecycle.models import Order, System
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.observations import orders_observe, status_mapped
from lifecycle.services.reconcile import status_meanings_register
from lifecycle.statuses import CANONICAL, CANONICAL_STATES, IGNORE, IGNORED, UNMAPPED, map_status, status_key
from lifecycle.values import CustomerRef, ObservationError, OrderObservation, OrderRef

SYSTEM = System.CRM
SHOP = System.WOOCOMMERCE  # the system whose order numbers a deal's name carries
KEY_PROPERTY = "aftercare_order_key"
STAGE_PROPERTY = "dealstage"
# What a pull reads of each deal: its stage, how it names its order, its own amount and currency.
PROPERTIES = (STAGE_PROPERTY, KEY_PROPERTY, "dealname", "amount", "deal_currency_code", "createdate")
# HubSpot's default "Sales Pipeline" is a pipeline of sales: every stage before the close is a sale
# not paid yet, a won deal is a paid one and a lost deal a cancelled one. Accounts with a pipeline
# of their own map its stages (numeric ids) in the admin.
DEFAULT_DEAL_STAGES = {
    "appointmentscheduled": "pending_payment", "qualifiedtobuy": "pending_payment",
    "presentationscheduled": "pending_payment", "decisionmakerboughtin": "pending_payment",
    "contractsent": "pending_payment", "closedwon": "paid", "closedlost": "cancelled",
}
# A canonical state no deal stage is mapped to is pushed at the stage of the state it is a kind of:
# HubSpot's default pipeline is one of sales, open, won or lost; an order past payment is a won sale,
# one undone a lost one. A manager who maps a stage to the state itself (a pipeline of orders) wins.
PUSH_AS = {
    "on_hold": "pending_payment", "fulfilling": "paid", "shipped": "paid", "delivered": "paid",
    "completed": "paid", "partially_refunded": "paid", "refunded": "cancelled", "failed": "cancelled",
    "deleted": "cancelled",
}
NO_CURRENCY = "XXX"  # ISO 4217's "no currency": a deal without deal_currency_code
# "Order #1042", "#1042 – Ann": the number after the first "#".
NAME_NUMBER = re.compile(r"#\s*([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
CHANGE = "crm.change_crmdealstagemapping"

_mappings = ConfigCache("crm_deal_stage_map")


@receiver([post_save, post_delete], sender=CrmDealStageMapping)
def _mapping_changed(sender, **kwargs):
    _mappings.changed()


@dataclass(frozen=True)
class DealFact:
    """What the CRM says about one deal at `modified_at`; None: not said (a webhook names the stage only)."""

    deal_id: str
    modified_at: datetime
    dealstage: str | None
    key: str | None = None
    name: str | None = None
    amount: str | None = None
    currency: str | None = None
    created_at: datetime | None = None


def order_key(order):
    """The key the console writes on an order's deal (KEY_PROPERTY): its system, store and number."""
    return f"{order.system}:{order.namespace}:{order.number}"


def ref_from_key(key):
    """The OrderRef an order key names, or None for a key that is not one."""
    system, _, rest = (key or "").strip().partition(":")
    namespace, _, number = rest.partition(":")
    if system not in System.values or not number.strip():
        return None
    try:
        return OrderRef(system, namespace, number.strip())
    except ObservationError:
        return None


def number_from_name(name):
    match = NAME_NUMBER.search(name or "")
    return match.group(1) if match else None


def namespace_of(connection):
    """Where the CRM's statuses are mapped (unmapped_status's subject): the connection."""
    return f"{connection.kind}-{connection.pk}"


# --- the mapping -----------------------------------------------------------------------------
def deal_stage_mappings_install(connection):
    """Rows for HubSpot's default deal stages the connection has none for, each with its first history record."""
    have = set(connection.deal_stage_mappings.values_list("dealstage", flat=True))
    missing = [CrmDealStageMapping(connection=connection, dealstage=stage, canonical=state)
               for stage, state in DEFAULT_DEAL_STAGES.items() if stage not in have]
    if missing:
        bulk_create_with_history(missing, CrmDealStageMapping, default_change_reason="HubSpot's default pipeline")
        _mappings.changed()


def deal_stage_map(connection_id):
    """{dealstage lookup key: canonical state or IGNORE}: the defaults, overridden by the connection's rows."""
    return _mappings.get("crm_deal_stage_map", connection_id, _load)


def _load(connection_id):
    mapping = dict(DEFAULT_DEAL_STAGES)
    rows = CrmDealStageMapping.objects.filter(connection_id=connection_id).values_list("dealstage", "canonical")
    mapping.update((status_key(stage, SYSTEM), canonical) for stage, canonical in rows)
    return mapping


def push_stages(connection_id):
    """{canonical state: the deal stage an order in it is pushed at}: the first stage mapped to the
    state (mapping rows in the order they were made; HubSpot's defaults where the connection has
    none), else the stage of the state it is a kind of (PUSH_AS); absent: not pushed."""
    return _mappings.get("crm_deal_stage_map", ("push", connection_id), lambda key: _push_load(key[1]))


def _push_load(connection_id):
    rows = list(CrmDealStageMapping.objects.filter(connection_id=connection_id).order_by("pk")
                .values_list("dealstage", "canonical"))
    stages = {}
    for dealstage, canonical in [*rows, *((k, v) for k, v in DEFAULT_DEAL_STAGES.items()
                                         if k not in {stage for stage, _ in rows})]:
        if canonical in CANONICAL_STATES:
            stages.setdefault(canonical, dealstage)
    for state, kind in PUSH_AS.items():
        if state not in stages and kind in stages:
            stages[state] = stages[kind]
    return stages


def deal_stage_mapping_set(*, connection, dealstage, canonical, actor):
    """Map one of the connection's deal stages (history kept), then move every order whose CRM
    stage waits on it; returns how many moved. For managers and operations."""
    if not actor.has_perm(CHANGE):
        raise PermissionDenied("Only managers map the CRM's deal stages.")
    if canonical not in CANONICAL_STATES and canonical != IGNORE:
        raise ServiceError(f"{canonical!r} is not a canonical order state.")
    with transaction.atomic():
        CrmDealStageMapping.objects.update_or_create(connection=connection, dealstage=status_key(dealstage, SYSTEM),
                                                     defaults={"canonical": canonical})
        return status_mapped(system=SYSTEM, namespace=namespace_of(connection), raw_status=dealstage.strip(),
                             meaning=canonical, actor=actor, foreign=True)


def status_meanings():
    """What the CRM's deal stages mean to reconciliation. Its source states sit on the shop's orders,
    so every connection's mapping is a default there (namespace ""), the defaults first."""
    merged = dict(DEFAULT_DEAL_STAGES)
    for connection_id in CrmConnection.objects.order_by("pk").values_list("pk", flat=True):
        merged.update(_load(connection_id))
    return {"": merged}


def status_meanings_cached():
    return _mappings.get("crm_deal_stage_map", "*all connections*", lambda _key: status_meanings())


status_meanings_register(SYSTEM, status_meanings, cached=status_meanings_cached)


# --- applying what the CRM says --------------------------------------------------------------
def deals_apply(*, connection, facts, actor, event_ref=""):
    """The CRM's word on the orders its deals name, in one call to the domain; returns
    {"observed", "echoes", "unmatched"} counts. A deal naming no order the console can find, or a
    webhook's deal no pull recorded yet, is unmatched and left to the next pull; a stage the console
    sent itself is an echo: kept on the deal, not observed."""
    known = {d.deal_id: d for d in CrmDeal.objects.filter(connection=connection,
                                                          deal_id__in={f.deal_id for f in facts})}
    by_name = _refs_by_name([f for f in facts if not ref_from_key(f.key) and f.name])
    mapping, now = deal_stage_map(connection.pk), timezone.now()
    observations, rows, echoes = [], {}, 0
    for fact in facts:
        ref = ref_from_key(fact.key) or by_name.get(number_from_name(fact.name))
        row = known.get(fact.deal_id)
        if row is not None and fact.amount is None:  # a webhook's stage change: the rest as last read
            fact = replace(fact, amount=row.amount, currency=row.currency)
        if ref is None and row is not None:
            ref = OrderRef(row.order_system, row.order_namespace, row.order_number)
        if ref is None or not fact.dealstage:
            continue
        if row is not None and fact.dealstage == row.pushed.get(STAGE_PROPERTY):
            echoes += 1
        else:
            try:
                observations.append(_observation(connection, fact, ref, mapping, actor, event_ref or
                                                 f"crm:{connection.pk}/deal:{fact.deal_id}", now))
            except ObservationError:
                continue  # a value the console cannot hold: the deal stays unmatched, as one naming nothing
        if row is None or fact.modified_at >= row.modified_at:
            rows[fact.deal_id] = CrmDeal(connection=connection, deal_id=fact.deal_id, order_system=ref.system,
                                         order_namespace=ref.namespace, order_number=ref.number,
                                         dealstage=fact.dealstage, amount=(fact.amount or "")[:32],
                                         currency=(fact.currency or "")[:3], modified_at=fact.modified_at)
    if observations:
        orders_observe(observations=observations)
    CrmDeal.objects.bulk_create(list(rows.values()), update_conflicts=True, unique_fields=["connection", "deal_id"],
                                update_fields=["order_system", "order_namespace", "order_number", "dealstage",
                                               "amount", "currency", "modified_at"])
    return {"observed": len(observations), "echoes": echoes, "unmatched": len(facts) - len(observations) - echoes}


def _refs_by_name(facts):
    """{number: OrderRef} for the numbers deal names carry, where exactly one store has that order."""
    numbers = {number_from_name(f.name) for f in facts} - {None}
    if not numbers:
        return {}
    stores = {}
    for number, namespace in (Order.objects.filter(system=SHOP, number__in=numbers).order_by()
                              .values_list("number", "namespace").distinct()):
        stores.setdefault(number, set()).add(namespace)
    return {number: OrderRef(SHOP, next(iter(spaces)), number) for number, spaces in stores.items() if len(spaces) == 1}


def _meaning(dealstage, mapping):
    result = map_status(dealstage, mapping, SYSTEM)
    return result.state if result.outcome == CANONICAL else (IGNORED if result.outcome == IGNORED else UNMAPPED)


def _observation(connection, fact, ref, mapping, actor, event_ref, now):
    currency = (fact.currency or "").strip().upper()
    return OrderObservation(
        system=SYSTEM, namespace=namespace_of(connection), external_id=fact.deal_id, number=ref.number,
        customer=CustomerRef(), raw_status=fact.dealstage, meaning=_meaning(fact.dealstage, mapping),
        currency=currency if len(currency) == 3 and currency.isalpha() else NO_CURRENCY,
        total=_amount(fact.amount), refunded_total=Decimal(0), placed_at=fact.created_at or fact.modified_at,
        paid_at=None, modified_at=fact.modified_at, actor=actor, source_name=connection.name, event_ref=event_ref,
        # A pull reads the same version again after a crash or a window's overlap: not worth a note.
        note_stale=False, received_at=now, of_order=ref)


def _amount(value):
    try:
        amount = Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else Decimal(0)
