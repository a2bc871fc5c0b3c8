"""The one path for order payloads (a single delivery, a store's waiting deliveries, a backfill page)
ends every order where the shop says it is, whatever the batch size, on histories from the sandbox shop."""

import pytest

from integrations.stores import store_connect
from integrations.woocommerce.intake import Item, orders_apply
from integrations.woocommerce.mappers import DEFAULT_STATUS_MAP, map_order
from integrations.woocommerce.sandbox import SandboxStore
from lifecycle.actors import Actor
from lifecycle.models import (
    Customer,
    CustomerIdentity,
    ExceptionCase,
    Handoff,
    Order,
    OrderSourceState,
    Ownership,
    Team,
    TimelineEvent,
)
from tests.factories import make_agent, make_user

ACTOR = Actor.task("tests")


def shop_history(seed, orders=45, versions=4):
    """Deliveries as the shop makes them: each order created, then paid, put on hold, shipped by a
    plugin status, completed, refunded or cancelled, every version newer than the one before."""
    shop = SandboxStore(seed=seed, orders=0, customers=orders // 3, now="2025-06-01T08:00:00")
    rng, out, ids = shop._sim_rng, [], []
    for _ in range(orders):
        shop.clock.advance(2)
        ids.append(shop.create_order(initial=False)["id"])
        out.append(shop.get_order(ids[-1]))
    for k in range(1, versions):
        for oid in ids:
            shop.clock.advance(2)
            status, r = shop.orders[oid]["status"], rng.random()
            if status == "pending":
                shop.cancel(oid) if r < 0.1 else shop.set_status(oid, "on-hold") if r < 0.3 else shop.pay(oid)
            elif status == "on-hold":
                shop.pay(oid)
            elif status == "processing":
                shop.set_status(oid, "shipped") if r < 0.1 else shop.complete(oid)
            elif status == "completed" and r < 0.5:
                shop.refund(oid, None if r < 0.2 else "1.00", "Damaged")
            else:
                shop.update_order(oid, customer_note=f"note {k}")
            out.append(shop.get_order(oid))
    return out


def setup_teams():
    for n, team in enumerate(Team.objects.order_by("pk")):
        for k in range(2):
            make_agent(make_user(f"a{n}{k}"), teams=[team.slug], capacity=1000)


def snapshot():
    """What the two paths must agree on, keyed by things both paths name the same way."""
    customer_key = {c.pk: c.email for c in Customer.objects.all()}
    orders = {
        o.external_id: (customer_key[o.customer_id], o.state, o.total, o.refunded_total, o.paid_at is not None)
        for o in Order.objects.all()
    }
    sources = {s.order.external_id: (s.raw_status, s.observed_at) for s in OrderSourceState.objects.select_related("order")}
    customers = {
        c.email: (c.display_name, c.phone, c.country, c.stage, c.first_order_at) for c in Customer.objects.all()
    }
    identities = sorted((customer_key[i.customer_id], i.kind, i.namespace, i.value) for i in CustomerIdentity.objects.all())
    owners = {customer_key[o.customer_id]: o.team.slug for o in Ownership.objects.select_related("team")}
    agents = sorted(o.customer_id for o in Ownership.objects.filter(agent__isnull=True))
    exceptions = sorted((x.kind, x.subject_key, x.status, x.occurrences) for x in ExceptionCase.objects.all()
                        if not x.subject_key.startswith("customer"))
    kinds = sorted((customer_key[e.customer_id], e.kind) for e in TimelineEvent.objects.all()
                   if e.kind not in ("stage_changed", "handoff"))
    return {"orders": orders, "sources": sources, "customers": customers, "identities": identities,
            "owners": owners, "unassigned": agents, "exceptions": exceptions, "events": kinds}


def batched(store, payloads, size):
    outcomes = []
    for start in range(0, len(payloads), size):
        items = [Item(payload=p, actor=ACTOR, event_ref="r") for p in payloads[start:start + size]]
        outcomes += orders_apply(store=store, items=items)
    return outcomes


def where_the_shop_is(payloads):
    """Per order, what the shop's newest version says: (state, total, refunded, raw status, modified).
    The state is the newest mapped status's (an unmapped one keeps the state the order had)."""
    expected = {}
    for payload in payloads:  # oldest first, as the shop made them
        data = map_order(payload, store_slug="main", status_map=DEFAULT_STATUS_MAP)
        state = data.canonical_state or expected.get(data.external_id, ("pending_payment",))[0]
        expected[data.external_id] = (state, data.total, data.refunded_total, data.raw_status, data.modified_at)
    return expected


@pytest.mark.django_db
@pytest.mark.parametrize("seed,size", [(11, 100), (12, 37), (13, 7)])
def test_every_order_ends_where_the_shop_says_whatever_the_batch(seed, size):
    # given a shop's deliveries: 45 orders in four versions each, guests and registered customers,
    # refunds, cancellations and a plugin status nobody mapped
    payloads = shop_history(seed)
    setup_teams()
    store = store_connect(name="Main", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret="wh", actor=ACTOR)
    # when they are applied one delivery at a time (a batch of one), and (on a clean slate) in batches
    singles = batched(store, payloads, 1)
    one_at_a_time = snapshot()
    _wipe()
    batches = batched(store, payloads, size)
    # then every version was applied, and every order is where the shop's newest version says
    assert batches == singles == ["applied"] * len(payloads)
    expected = where_the_shop_is(payloads)
    got = {o.external_id: (o.state, o.total, o.refunded_total, *sources) for o in Order.objects.all()
           for sources in [(s.raw_status, s.observed_at) for s in o.source_states.all()]}
    assert got == expected
    assert len(expected) == 45 and any(raw == "shipped" for *_, raw, _ in expected.values())
    assert not ExceptionCase.objects.filter(kind="state_mismatch").exists()
    assert ExceptionCase.objects.filter(kind="unmapped_status", subject_key="store:main/status:shipped").exists()
    # and the batch size changed nothing: customers, identities, owners, exceptions and events agree
    batched_snapshot = snapshot()
    for part in one_at_a_time:
        assert batched_snapshot[part] == one_at_a_time[part], part
    # and every customer with orders has one owner with an agent, each with its handoffs recorded
    assert Ownership.objects.count() == Customer.objects.count() == len(batched_snapshot["customers"])
    assert not batched_snapshot["unassigned"]
    assert (Handoff.objects.filter(to_agent__isnull=False).values("customer").distinct().count()
            == len(batched_snapshot["owners"]))


def test_one_order_in_many_versions_is_applied_in_arrival_order(db):
    # given five versions of one order in one batch, the oldest last but one
    payloads = shop_history(21, orders=1, versions=5)
    setup_teams()
    store = store_connect(name="Main", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                          consumer_secret="cs", webhook_secret="wh", actor=ACTOR)
    arrival = payloads[1:4] + [payloads[0], payloads[4]]
    # when the batch is applied
    outcomes = batched(store, arrival, 10)
    # then each version was applied in turn, the late first version noted as stale, the newest kept
    assert outcomes == ["applied", "applied", "applied", "stale", "applied"]
    source = OrderSourceState.objects.get()
    assert source.observed_at.isoformat().startswith(payloads[4]["date_modified_gmt"])
    assert TimelineEvent.objects.filter(kind="stale_event").count() == 1


def _wipe():
    TimelineEvent.objects.all()._raw_delete("default")
    Ownership.objects.all().delete()
    Handoff.objects.all()._raw_delete("default")
    ExceptionCase.objects.all().delete()
    OrderSourceState.objects.all().delete()
    Order.objects.all().delete()
    CustomerIdentity.objects.all().delete()
    Customer.objects.all().delete()
    Team.objects.update(rr_counter=0)
