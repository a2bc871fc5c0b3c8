"""One way in for what any system says about an order: the shop's webhooks and backfill, the ERP's
imports, the CRM's sync. Integrations only map their payloads to OrderObservation values and call
orders_observe once per batch; a single delivery is a batch of one.

What an observation does, whoever sends it:
- An observation older than what the system said last changes nothing (a late or replayed
  delivery): it is kept out, and noted on the order's timeline the first time it is seen.
- Two versions in the same second (the shop's dates have one-second resolution, and
  "processing" → "completed" in one request is common) are told apart by what can be known: the
  order's state graph (a move it allows is the later version) or the refund totals (refunds only
  grow). What cannot be told apart keeps what is stored. Either way the timeline says which.
- A date in the future (a shop with a wrong clock, a forged body) is taken as the time it was
  received, and noted: one bad clock never freezes an order against later genuine updates.
- A status that means "not an order yet" (a checkout draft) creates nothing.
- A status nobody mapped keeps the order's state (a new order starts in pending_payment) and opens
  the one `unmapped_status` exception of its system, namespace and status.
- A move the state graph refuses keeps the order's state and opens `state_mismatch` on the order.
  When a later observation brings the order and what its systems say back into agreement, that
  exception resolves itself, in the observation's name, saying why (DOMAIN.md invariant 4).
- The customer is resolved (or created) from the reference; the customers whose orders moved
  follow them through their stages and are handed over to the new stage's team (orders.py).

Set-based: a batch's orders are locked in one read, its customers resolved in one, rows of a kind
written with one statement. When one order appears more than once in a batch, the batch runs in
rounds, each holding every order at most once, in arrival order, so each version is applied after
the one before it.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from lifecycle import statuses
from lifecycle.db import locks, rows
from lifecycle.models import OPEN_STATUSES, Customer, CustomerIdentity, ExceptionCase, ExceptionKind, Order
from lifecycle.models import OrderSourceState, OrderState, Ownership, System, TimelineEvent
from lifecycle.services import orders, timeline
from lifecycle.services.customers import customers_resolve
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.exceptions import exception_raise, exception_resolve, exceptions_resolve
from lifecycle.values import OrderObservation, Outcome  # noqa: F401 (the values this service takes)


def orders_observe(*, observations):
    """Apply what the systems say, in order; one Outcome per observation. Each round commits on
    its own (inside the caller's transaction, if any)."""
    outcomes = [None] * len(observations)
    for batch in _rounds(observations):
        with transaction.atomic():
            _observe_round(batch, outcomes)
    return outcomes


def _rounds(observations):
    """Split them into rounds in which each order appears once, keeping arrival order: [(n, obs)]."""
    rounds, seen = [], {}
    for n, observation in enumerate(observations):
        k = seen.get(observation.key, 0)
        seen[observation.key] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append((n, observation))
    return rounds


@dataclass
class _Round:
    """What one round collects to write together."""

    events: list = field(default_factory=list)  # timeline events, inserted together at the end
    followers: orders.Followers = field(default_factory=orders.Followers)


def _observe_round(batch, outcomes):
    now = timezone.now()
    # Two writers (two drains, a drain and a backfill, an import) creating the same order or
    # customer would both insert it: each takes the keys it may create, in one order, first.
    locks.lock_keys([("order", *obs.key) for _, obs in batch]
                    + [key for _, obs in batch for key in obs.customer.keys()])
    existing = _lock_orders([obs.key for _, obs in batch])
    work = _Round()
    created, newer = [], []
    for n, obs in batch:
        observed_at = _observed_at(obs, now)
        order = existing.get(obs.key)
        if order is None:
            if obs.meaning == statuses.IGNORED:
                outcomes[n] = Outcome.IGNORED  # a checkout draft is not an order yet
            else:
                created.append((n, obs, observed_at))
            continue
        _note_clock(order, obs, observed_at, work)
        if _newer(order, obs, observed_at, work):
            newer.append((n, obs, observed_at, order))
        else:
            outcomes[n] = Outcome.STALE
    if created:
        _create(created, outcomes, work)
    if newer:
        _update(newer, outcomes, work)
    orders.orders_follow(work.followers, work.events)
    rows.insert_many(TimelineEvent, work.events)


# A date further ahead of its receipt than this is a wrong clock, not a fast one.
CLOCK_TOLERANCE = timedelta(minutes=5)


def _observed_at(obs, now):
    """The observation's time; a date too far ahead of its receipt is taken as the receipt time."""
    received = obs.received_at or now
    return obs.modified_at if obs.modified_at <= received + CLOCK_TOLERANCE else received


def _note_clock(order, obs, observed_at, work):
    if observed_at != obs.modified_at:
        work.events.append(timeline.clock_ahead_event(order=order, actor=obs.actor, system=obs.system,
                                                     claimed_at=obs.modified_at, received_at=observed_at))


def _lock_orders(keys):
    """{key: Order} for the (system, namespace, external_id) keys the console has, locked in id order,
    each annotated with the reporting system's stored source state (source_id, source_observed_at,
    source_raw_status) and whether its state_mismatch is open (mismatch_open)."""
    by_system = {}
    for system, namespace, external_id in keys:
        by_system.setdefault((system, namespace), []).append(external_id)
    found = {}
    for (system, namespace), external_ids in by_system.items():
        source = OrderSourceState.objects.filter(order=OuterRef("pk"), system=system)
        for order in (Order.objects.select_for_update(of=("self",))
                      .filter(system=system, namespace=namespace, external_id__in=external_ids)
                      .annotate(source_id=Subquery(source.values("pk")[:1]),
                                source_observed_at=Subquery(source.values("observed_at")[:1]),
                                source_raw_status=Subquery(source.values("raw_status")[:1]),
                                mismatch_open=_MISMATCH_OPEN)
                      .order_by("pk")):
            found[(system, namespace, order.external_id)] = order
    return found


def _newer(order, obs, observed_at, work):
    """Whether the observation is newer than what its system said last (the stale rule, with
    same-second versions told apart); records why on the timeline where a person would ask."""
    stored = order.source_observed_at
    if stored is None or observed_at > stored:
        return True
    if observed_at < stored:
        if obs.note_stale:
            work.events.append(timeline.stale_event(order=order, actor=obs.actor, system=obs.system,
                                                   observed_at=observed_at, stored_at=stored))
        return False
    # The same second as the stored version.
    if obs.raw_status == order.source_raw_status and (obs.total, obs.refunded_total) == (
            order.total, order.refunded_total):
        return False  # the same version again (a duplicate or a replay)
    decided = _same_second_order(order, obs)
    if obs.note_stale:
        work.events.append(timeline.same_second_event(order=order, actor=obs.actor, system=obs.system,
                                                     raw_status=obs.raw_status, decided_by=decided))
    return decided is not None


def _same_second_order(order, obs):
    """Why a same-second version is the later one ("states" or "refunds"), or None when it is not,
    or cannot be told (then what is stored stays)."""
    if obs.state and obs.state != order.state:
        try:
            if orders.transition_for(order, obs.state) is not None:
                return "states"
        except OrderTransitionRefused:
            return None  # the graph says it came before what is stored
    if obs.refunded_total > order.refunded_total:
        return "refunds"
    return None


def _create(created, outcomes, work):
    customers = customers_resolve(refs=[(obs.customer, obs.actor) for _, obs, _ in created], events=work.events)
    new_orders = [
        orders.NewOrder(
            customer=customer, actor=obs.actor, system=obs.system, namespace=obs.namespace,
            external_id=obs.external_id, number=obs.number, total=obs.total, refunded_total=obs.refunded_total,
            currency=obs.currency, placed_at=obs.placed_at, paid_at=obs.paid_at,
            # An order whose first status nobody mapped starts where every order starts and waits there.
            state=obs.state or OrderState.PENDING_PAYMENT,
            raw_status=obs.raw_status, observed_at=observed_at, event_ref=obs.event_ref,
        )
        for (_, obs, observed_at), customer in zip(created, customers)
    ]
    made = orders.orders_create(new_orders, work.events, work.followers)
    for (n, obs, observed_at), order in zip(created, made):
        outcomes[n] = Outcome.APPLIED
        _note_clock(order, obs, observed_at, work)
        if obs.meaning == statuses.UNMAPPED:
            _raise_unmapped(order, obs, work)


def _update(newer, outcomes, work):
    orders.source_states_write([
        (order, obs.system, obs.raw_status, observed_at, obs.event_ref, order.source_id)
        for _, obs, observed_at, order in newer
    ])
    changed, agreed = [], []
    for n, obs, _, order in newer:
        outcomes[n] = Outcome.APPLIED
        dirty = False
        if (order.total, order.refunded_total) != (obs.total, obs.refunded_total):
            order.total, order.refunded_total, dirty = obs.total, obs.refunded_total, True
        if order.paid_at is None and obs.paid_at is not None:
            order.paid_at, dirty = obs.paid_at, True  # when the system says it was paid, not when we heard
        if obs.meaning == statuses.UNMAPPED:
            _raise_unmapped(order, obs, work)
        elif obs.state:
            try:
                dirty |= orders.order_move(order, obs.state, obs.actor, obs.raw_status, work.events,
                                           work.followers, source=timeline.source_of(obs.system))
            except OrderTransitionRefused as refused:
                # The system moved somewhere our graph does not allow: keep our state, show the conflict.
                _raise_mismatch(order, obs.system, obs.raw_status, obs.state, obs.actor, refused)
            else:
                agreed.append((order, obs.system, obs.state, obs.actor))
        if dirty:
            changed.append(order)
    orders.orders_save(changed)
    _resolve_mismatches(agreed)


def _raise_mismatch(order, system, raw_status, wanted, actor, refused):
    """The order's system says `wanted` and the state graph refused the move: the order keeps its
    state and its `state_mismatch` exception (order's owner team) owns the disagreement."""
    exception_raise(
        kind=ExceptionKind.STATE_MISMATCH, subject_key=_mismatch_subject(order), customer=order.customer,
        order=order, actor=actor, summary=str(refused),
        evidence={system: raw_status, "canonical": order.state, "wanted": wanted},
    )


def _mismatch_subject(order):
    return f"order:{order.pk}"


# Whether the order's state_mismatch is open (it is raised with the order): read with the orders,
# so the orders that agree again cost nothing more to check, and most have none to resolve.
_MISMATCH_OPEN = Exists(ExceptionCase.objects.filter(order_id=OuterRef("pk"), kind=ExceptionKind.STATE_MISMATCH,
                                                     status__in=OPEN_STATUSES))


def _resolve_mismatches(agreed):
    """Resolve the open `state_mismatch` of each order whose system now says what the order is:
    [(order, system, reported state, actor)], the order as it is after the observation and read
    with `mismatch_open` (_MISMATCH_OPEN).

    An order's observations come from its own system only (orders are keyed per system), and what
    another system's stored status means is not the domain's to know (its mapping lives with its
    integration; the customer screen shows it as unknown): so the reporting system agreeing is the
    disagreement cleared. No query for orders without one open; one resolve per actor closes the
    others, in the name of the actor whose observation cleared it.
    """
    by_actor = {}
    for order, system, reported, actor in agreed:
        if not order.mismatch_open or not statuses.agrees(reported, order.state):
            continue
        subject = _mismatch_subject(order)
        who = timeline.SYSTEM_NAMES.get(system, system)
        reason = f"{who[:1].upper()}{who[1:]} and the console agree again: {OrderState(order.state).label.lower()}"
        by_actor.setdefault(actor, {})[subject] = reason
    for actor, reasons in by_actor.items():
        exceptions_resolve(kind=ExceptionKind.STATE_MISMATCH, reasons=reasons, actor=actor)


def _raise_unmapped(order, obs, work):
    work.events.append(timeline.unmapped_status_event(order=order, raw_status=obs.raw_status, actor=obs.actor,
                                                      system=obs.system))
    where = obs.source_name or obs.namespace
    exception_raise(
        kind=ExceptionKind.UNMAPPED_STATUS,
        subject_key=statuses.unmapped_subject(obs.system, obs.namespace, obs.raw_status), actor=obs.actor,
        summary=f"{where}: {System(obs.system).label} status “{obs.raw_status}” has no mapping",
        evidence={"system": obs.system, "store": obs.namespace, "raw_status": obs.raw_status,
                  "example_order": order.number},
    )



# A deletion carries no date (the shop's order.deleted body is only the id), and it came after every
# version stored: it is stored one second (the shop's clock resolution) after the last one. A late
# or replayed earlier version stays stale, and the shop's next version (a restore from the trash,
# dated by the shop's clock) is newer. The time we received it would not do: a delivery that
# arrives late would make an undo done right after the trash look older than the trash.
DELETION_AFTER = timedelta(seconds=1)


def order_deleted(*, system, namespace, external_id, raw_status, actor, event_ref=""):
    """The system deleted the order (the shop's trash): the console keeps it, marked deleted, with
    the status the system reports for it now (`raw_status`: the shop's "trash") as its source state,
    so the order and its system agree, and its open `state_mismatch`, if any, resolves. IGNORED when
    the console has no such order or knows of the deletion already (a replay)."""
    key = (system, namespace, external_id)
    with transaction.atomic():
        order = _lock_orders([key]).get(key)
        if order is None or (order.state == OrderState.DELETED and order.source_raw_status == raw_status):
            return Outcome.IGNORED
        observed_at = (order.source_observed_at or order.placed_at) + DELETION_AFTER
        orders.source_states_write([(order, system, raw_status, observed_at, event_ref, order.source_id)])
        events, followers = [], orders.Followers()
        if orders.order_move(order, OrderState.DELETED, actor, raw_status, events, followers,
                             source=timeline.source_of(system)):
            orders.orders_save([order])
        orders.orders_follow(followers, events)
        rows.insert_many(TimelineEvent, events)
        _resolve_mismatches([(order, system, OrderState.DELETED, actor)])
    return Outcome.APPLIED


def status_mapped(*, system, namespace, raw_status, meaning, actor):
    """A manager gave a raw status its meaning: the orders of the namespace waiting on it move to it
    (those the state graph allows; the others keep their state and open `state_mismatch`, as a
    refused move from the system itself does), and the status's `unmapped_status` exception is
    resolved. Returns how many orders moved."""
    moved, agreed = 0, []
    with transaction.atomic():
        if meaning in statuses.CANONICAL_STATES:
            spellings = {raw_status, statuses.status_key(raw_status, system)}
            waiting = (Order.objects.filter(namespace=namespace, system=system, source_states__system=system,
                                            source_states__raw_status__in=spellings)
                       .select_related("customer").annotate(mismatch_open=_MISMATCH_OPEN))
            for order in waiting.exclude(state=meaning):
                try:
                    moved += orders.order_transition(order=order, to_state=meaning, actor=actor, raw_status=raw_status)
                except OrderTransitionRefused as refused:
                    # The graph forbids it for this order: its state stays, and the disagreement
                    # (its system now means `meaning`) is owned, not only shown.
                    _raise_mismatch(order, system, raw_status, meaning, actor, refused)
                else:
                    agreed.append((order, system, meaning, actor))
            # An order that disagreed before (a move refused earlier) and now follows its system's
            # status agrees again: its mismatch resolves, in the manager's name.
            _resolve_mismatches(agreed)
        exception_resolve(kind=ExceptionKind.UNMAPPED_STATUS,
                          subject_key=statuses.unmapped_subject(system, namespace, raw_status),
                          reason=f"Mapped to {meaning} by {actor.ref}; {moved} orders re-derived", actor=actor)
    return moved


def statistics_refresh():
    """Refresh the planner's statistics of the tables observations grow (after a bulk load, as
    PostgreSQL advises: a first backfill grows them from little)."""
    rows.analyze(Order, OrderSourceState, Customer, CustomerIdentity, Ownership)
