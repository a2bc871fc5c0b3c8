"""The ERP's rows as the domain's observations, and the ERP's record of each of its orders.

A row (a ParsedOrder) or a kept record (an ErpRecord: they share the fields read here) becomes an
OrderObservation of the shop's order it names by number (of_order): the domain sets the order's ERP
source state, re-derives its state, and tells an orphan (no such order yet) from the rest. The
record keeps what the ERP said, attached to the order or, for an orphan, waiting: when the shop's
order arrives (orders_observe creates it), orphans_attach observes the waiting rows again, in the
same transaction, so the order takes the ERP's word and the orphan's "ERP only" mismatch resolves.
"""

from decimal import Decimal

from integrations.erp.models import ErpRecord
from integrations.erp.profiles import PROFILES
from integrations.erp.status_mappings import erp_status_map
from integrations.erp.statuses import SYSTEM
from lifecycle.actors import Actor, ActorKind
from lifecycle.services.observations import orders_created_register, orders_observe
from lifecycle.statuses import CANONICAL, IGNORED, UNMAPPED, map_status
from lifecycle.values import CustomerRef, OrderObservation, OrderRef

SHOP = "woocommerce"  # the system whose order numbers ERP rows carry (the store's orders)
# What a record keeps (attnames), written whole on every upsert.
RECORD_FIELDS = ("store_namespace", "shop_order_number", "raw_status", "total", "currency", "observed_at",
                 "placed_at", "customer_email", "erp_import_id", "line", "order_id", "updated_at")


def import_actor(import_id, user=None):
    """Who an import's changes are by on timelines: the import, and the user who started it."""
    return Actor(ActorKind.IMPORT, user=user, ref=f"ERP import #{import_id}")


def event_ref(import_id, line):
    """The provenance a source state keeps: which import, which line of its file."""
    return f"erp-import:{import_id}/{line}"


def meaning_of(raw_status, status_map):
    result = map_status(raw_status, status_map, SYSTEM)
    return result.state if result.outcome == CANONICAL else (IGNORED if result.outcome == IGNORED else UNMAPPED)


def observation(row, *, profile, store_slug, status_map, actor, ref, observed_at, meaning=None):
    """The observation of one row or record (`meaning`: its raw status's, when the caller knows it).
    Raises ObservationError for a value the console cannot hold."""
    return OrderObservation(
        system=SYSTEM, namespace=profile, external_id=row.erp_id, number=row.shop_order_number,
        customer=CustomerRef(email=row.customer_email or ""), raw_status=row.raw_status,
        meaning=meaning or meaning_of(row.raw_status, status_map), currency=row.currency, total=row.total,
        refunded_total=Decimal(0), placed_at=row.placed_at or observed_at, paid_at=None,
        modified_at=observed_at, actor=actor, source_name=PROFILES[profile].title, event_ref=ref,
        # An import's rows are new to the console: an older one is counted unchanged on the batch, not
        # noted on each order's timeline.
        note_stale=False, of_order=OrderRef(SHOP, store_slug, row.shop_order_number))


def orphans_attach(orders):
    """The shop reported orders that ERP rows named before it: observe those rows again for them (the
    domain applies them and resolves their "ERP only" mismatch) and attach their records. One query
    when none waits (the orphan index)."""
    wanted = {}
    for order in sorted(orders, key=lambda o: o.pk):
        if order.system == SHOP:
            wanted.setdefault((order.namespace, order.number), order.pk)
    if not wanted:
        return
    records = [r for r in ErpRecord.objects.filter(order__isnull=True,
                                                   store_namespace__in={ns for ns, _ in wanted},
                                                   shop_order_number__in={number for _, number in wanted})
               if (r.store_namespace, r.shop_order_number) in wanted]
    if not records:
        return
    orders_observe(observations=[
        observation(r, profile=r.namespace, store_slug=r.store_namespace, status_map=erp_status_map(r.namespace),
                    actor=import_actor(r.erp_import_id), ref=event_ref(r.erp_import_id, r.line),
                    observed_at=r.observed_at)
        for r in records])
    for record in records:
        record.order_id = wanted[(record.store_namespace, record.shop_order_number)]
    ErpRecord.objects.bulk_update(records, ["order"])


orders_created_register(orphans_attach)
