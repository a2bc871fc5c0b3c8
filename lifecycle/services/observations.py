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

A system may also report on an order born in another system: the ERP on the shop's order it names
by number (OrderObservation.of_order). Such an observation takes the same path, keyed by that
order: it sets only its own system's source state on it (raw status, time, its own total), never
the order's amounts, and moves the canonical state through the same graph, under the same stale,
unmapped and mismatch rules, with two differences:
- It never creates an order. An order the console does not have makes it an ORPHAN: its system's
  word opens `state_mismatch` (evidence: "ERP only", in the managers' queue, as it has no customer
  yet), which resolves itself once an observation of it finds the order. The integration keeps
  the orphan's facts; it registers a hook (orders_created_register) that hears of the orders this
  service creates, so the shop's order arriving later takes them in (in the same transaction).
- It skips and lags without conflict: its exports are snapshots, so a move to a later warehouse
  step passes the steps between (paid → shipped → delivered, each a transition and an event); a
  move the graph refuses because the order is one move past what the system says (the ERP still
  delivering what the shop completed) opens nothing: how long the systems may disagree is
  reconciliation's tolerance. It resolves only the mismatches its own system's refused moves
  opened, never reconciliation's.
orders_preview answers the same questions reading only (an import's dry run).

Set-based: a batch's orders are locked in one read, its customers resolved in one, rows of a kind
written with one statement. When one order appears more than once in a batch, the batch runs in
rounds, each holding every order at most once, in arrival order, so each version is applied after
the one before it.
"""

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from lifecycle import statuses
from lifecycle.db import locks, rows
from lifecycle.db import orders as order_rows
from lifecycle.db.sql import quote, table
from lifecycle.models import OPEN_STATUSES, Customer, CustomerIdentity, ExceptionCase, ExceptionKind, Order
from lifecycle.models import OrderSourceState, OrderState, Ownership, System, TimelineEvent
from lifecycle.services import orders, timeline
from lifecycle.services.customers import customers_resolve
from lifecycle.services.errors import OrderTransitionRefused
from lifecycle.services.exceptions import exception_raise, exception_resolve, exceptions_resolve
from lifecycle.services.reconcile import status_meanings_of
from lifecycle.values import BY_NUMBER, OrderObservation, OrderRef, Outcome  # noqa: F401 (the values it takes)


def orders_observe(*, observations, order_ids=None):
    """Apply what the systems say, in order; one Outcome per observation. Each round commits on
    its own (inside the caller's transaction, if any). `order_ids`: a list as long as
    `observations` in which the id of the order each applied observation set is written (an
    integration keeping its own record of another system's orders: the ERP's)."""
    outcomes = [None] * len(observations)
    for batch in _rounds(observations):
        with transaction.atomic():
            _observe_round(batch, outcomes, order_ids)
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
    created: list = field(default_factory=list)  # the orders created, for the hooks
    meanings: dict = field(default_factory=dict)  # (system, namespace) -> {raw status: meaning}, read when needed


def _observe_round(batch, outcomes, order_ids):
    now = timezone.now()
    # Two writers (two drains, a drain and a backfill, an import) creating the same order or
    # customer would both insert it: each takes the keys it may create, in one order, first.
    locks.lock_keys([key for _, obs in batch for key in _lock_keys(obs)])
    existing = _lock_orders([(obs.key, obs.system) for _, obs in batch])
    work = _Round()
    created, newer, orphans = [], [], []
    for n, obs in batch:
        observed_at = _observed_at(obs, now)
        order = existing.get(obs.key)
        if order is None:
            if obs.meaning == statuses.IGNORED:
                outcomes[n] = Outcome.IGNORED  # a checkout draft is not an order yet
            elif obs.of_order is not None:
                orphans.append((n, obs))  # another system's order the console does not have
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
    if order_ids is not None:
        for (n, *_), order in zip(created, work.created):
            order_ids[n] = order.pk
        for n, *_, order in newer:
            order_ids[n] = order.pk
    orders.orders_follow(work.followers, work.events)
    rows.insert_many(TimelineEvent, work.events)
    _orphans_raise(orphans, outcomes)
    _orphans_found([obs for _, obs in batch if obs.of_order is not None and obs.key in existing])
    if work.created:
        for hook in _created_hooks:
            hook(work.created)


def _lock_keys(obs):
    """The advisory lock keys an observation takes. Creating an order takes its number too, and an
    observation naming an order by number takes that number: the one either sees the order, or
    the other hears of the orphan (orders_created_register), never neither."""
    if obs.of_order is not None:
        return [("order-number", obs.of_order.system, obs.of_order.namespace, obs.of_order.number)]
    return [("order", *obs.key), ("order-number", obs.system, obs.namespace, obs.number), *obs.customer.keys()]


_created_hooks = []


def orders_created_register(hook):
    """An integration hears of the orders observations create: `hook(orders)` runs after each round
    that created some, in its transaction (the orders locked and written, their events too). The
    ERP attaches the rows it kept for orders the shop had not reported yet. Called once at start-up
    (an AppConfig.ready); registering the same hook again changes nothing."""
    if hook not in _created_hooks:
        _created_hooks.append(hook)


def orders_created_unregister(hook):
    if hook in _created_hooks:
        _created_hooks.remove(hook)

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


def _lock_orders(wanted, lock=True):
    """{key: Order} for the orders the console has of [(OrderObservation.key, reporting system)],
    locked in id order (lock=False: only read), each annotated with the reporting system's stored
    source state (source_observed_at, source_raw_status; source_total for another
    system's order) and whether a state_mismatch that system may resolve is open (mismatch_open).
    A key naming an order by number (BY_NUMBER) finds the first order created with that number.
    Hand-written reads (lifecycle/db/orders.py): a batch's thousand keys are one array each."""
    groups = {}
    for key, reporting in wanted:
        system, namespace, *rest = key
        groups.setdefault((system, namespace, reporting, len(rest) > 1), []).append(rest[-1])
    found = {}
    for (system, namespace, reporting, by_number), values in groups.items():
        read = order_rows.orders_read(system=system, namespace=namespace, by_number=by_number, values=values,
                                      reporting=reporting, lock=lock)
        stored = order_rows.source_states_read([order.pk for order, _ in read], reporting)
        for order, mismatch_open in read:
            order.mismatch_open = mismatch_open
            order.source_observed_at, order.source_raw_status, order.source_total = stored.get(
                order.pk, (None, None, None))
            key = (system, namespace, BY_NUMBER, order.number) if by_number else (system, namespace, order.external_id)
            found.setdefault(key, order)
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
    if obs.raw_status == order.source_raw_status and _same_amounts(order, obs):
        return False  # the same version again (a duplicate or a replay)
    said = _said_state(order, obs, work) or order.state  # unmapped: the order's state is all there is
    decided = _same_second_order(order, obs, said)
    if obs.note_stale:
        work.events.append(timeline.same_second_event(order=order, actor=obs.actor, system=obs.system,
                                                     raw_status=obs.raw_status, decided_by=decided, after=said))
    return decided is not None


def _same_amounts(order, obs):
    if obs.of_order is not None:
        return obs.total == order.source_total  # another system's total is its own, on its source state
    return (obs.total, obs.refunded_total) == (order.total, order.refunded_total)


def _same_second_order(order, obs, said):
    """Why a same-second version is the later one ("states" or "refunds"), or None when it is not,
    or cannot be told (then what is stored stays). The version is compared with the state its own
    system `said` last, not with the order's: another system may have moved the order in between
    (the ERP delivering between the shop's "processing" and "completed" of one second)."""
    if obs.state and obs.state != said:
        if said == OrderState.DELETED or (str(said), str(obs.state)) in orders.MOVES:
            return "states"
        return None  # the graph says it came before what is stored, or cannot tell
    if obs.refunded_total > order.refunded_total:
        return "refunds"
    return None


def _said_state(order, obs, work):
    """The canonical state the system's stored raw status means (its namespace's mapping over the
    defaults); None when unmapped or ignored. Mappings are read once per round and system."""
    if (obs.system, obs.namespace) not in work.meanings:
        meanings = status_meanings_of(obs.system)
        work.meanings[obs.system, obs.namespace] = {**meanings.get("", {}), **meanings.get(obs.namespace, {})}
    return statuses.map_status(order.source_raw_status, work.meanings[obs.system, obs.namespace], obs.system).state


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
    work.created.extend(made)
    for (n, obs, observed_at), order in zip(created, made):
        outcomes[n] = Outcome.APPLIED
        _note_clock(order, obs, observed_at, work)
        if obs.meaning == statuses.UNMAPPED:
            _raise_unmapped(order, obs, work)


def _update(newer, outcomes, work):
    orders.source_states_write([
        (order, obs.system, obs.raw_status, observed_at, obs.event_ref, obs.total if obs.of_order is not None else None)
        for _, obs, observed_at, order in newer
    ])
    changed, agreed = [], []
    for n, obs, _, order in newer:
        outcomes[n] = Outcome.APPLIED
        dirty = False
        if obs.of_order is not None:
            pass  # another system's amounts are its own (on its source state), not the order's
        elif (order.total, order.refunded_total) != (obs.total, obs.refunded_total):
            order.total, order.refunded_total, dirty = obs.total, obs.refunded_total, True
        if obs.of_order is None and order.paid_at is None and obs.paid_at is not None:
            order.paid_at, dirty = obs.paid_at, True  # when the system says it was paid, not when we heard
        if obs.meaning == statuses.UNMAPPED:
            _raise_unmapped(order, obs, work)
        elif obs.state:
            try:
                dirty |= orders.order_move(order, obs.state, obs.actor, obs.raw_status, work.events,
                                           work.followers, source=timeline.source_of(obs.system),
                                           through=ON_THE_WAY if obs.of_order is not None else ())
            except OrderTransitionRefused as refused:
                # The system moved somewhere our graph does not allow: keep our state, show the conflict.
                _refuse(order, obs.system, obs.raw_status, obs.state, obs.actor, refused,
                        foreign=obs.of_order is not None)
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


# The steps a system reporting on another system's order may have passed unseen: its exports are
# snapshots (a day apart), and an order it reports delivered was shipped, one it ships was picked.
ON_THE_WAY = frozenset({OrderState.FULFILLING, OrderState.SHIPPED, OrderState.DELIVERED})


def _refuse(order, system, raw_status, wanted, actor, refused, foreign):
    """The graph refused `wanted`. A system reporting on another system's order that is only behind
    it (the order is one move past what it says) is no conflict: the ERP delivers after the shop
    completed, and how long it may lag is reconciliation's tolerance. Anything else is a mismatch."""
    if foreign and (str(wanted), str(order.state)) in orders.MOVES:
        return
    _raise_mismatch(order, system, raw_status, wanted, actor, refused)


def _mismatch_open(system, foreign):
    """The annotation `mismatch_open` of an orders queryset: order_rows.mismatch_open_sql's rule (the
    one _lock_orders reads), for observations of `system` (foreign: on another system's orders)."""
    return RawSQL(order_rows.mismatch_open_sql(f"{table(Order)}.{quote('id')}", system if foreign else None), (),
                  output_field=BooleanField())


def _resolve_mismatches(agreed):
    """Resolve the open `state_mismatch` of each order whose system now says what the order is:
    [(order, system, reported state, actor)], the order as it is after the observation and read
    with `mismatch_open` (order_rows.mismatch_open_sql).

    What another system's stored status means is not the domain's to know (its mapping lives with
    its integration): so the reporting system agreeing is the disagreement cleared, for the
    mismatches it may resolve (`mismatch_open`: any, for the order's own system; only those its own
    refused moves raised, for another system's observations). No query for orders without one open; one resolve per actor closes the
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
    """`order` None: an orphan's status (no order, so nothing on a timeline)."""
    if order is not None:
        work.events.append(timeline.unmapped_status_event(order=order, raw_status=obs.raw_status, actor=obs.actor,
                                                          system=obs.system))
    where = obs.source_name or obs.namespace
    exception_raise(
        kind=ExceptionKind.UNMAPPED_STATUS,
        subject_key=statuses.unmapped_subject(obs.system, obs.namespace, obs.raw_status), actor=obs.actor,
        summary=f"{where}: {System(obs.system).label} status “{obs.raw_status}” has no mapping",
        evidence={"system": obs.system, "store": obs.namespace, "raw_status": obs.raw_status,
                  "example_order": order.number if order is not None else obs.number},
    )


def orphan_subject(system, order):
    """The subject of the `state_mismatch` a system's word on an order the console does not have
    opens (`order`: the OrderRef it names): one per system and order number."""
    return f"{_orphan_prefix(system)}{order.system}:{order.namespace}/order:{order.number}"


def _orphan_prefix(system):
    return f"{system}-only:"


def _orphans_raise(orphans, outcomes):
    for n, obs in orphans:
        outcomes[n] = Outcome.ORPHAN
        if obs.meaning == statuses.UNMAPPED:
            _raise_unmapped(None, obs, None)
        ref, label = obs.of_order, System(obs.system).label
        exception_raise(
            kind=ExceptionKind.STATE_MISMATCH, subject_key=orphan_subject(obs.system, ref), actor=obs.actor,
            summary=f"Order #{ref.number}: {label} only, {timeline.SYSTEM_NAMES.get(ref.system, ref.system)} "
                    "has not reported it",
            evidence={"only": f"{label} only", "system": obs.system, obs.system: obs.raw_status,
                      "canonical": obs.state, "external_id": obs.external_id, "observed_at": obs.modified_at.isoformat(),
                      "order": {"system": ref.system, "namespace": ref.namespace, "number": ref.number}},
        )


def _orphans_found(found):
    """Observations of another system's order that found it: the mismatch their system's word opened
    while the order was missing resolves (one statement per actor; none open, nothing changes).
    Mostly none of their system is open at all: then one small read says so, instead of a resolve
    naming every order of the batch."""
    waiting = {system for system in {obs.system for obs in found} if ExceptionCase.objects.filter(
        kind=ExceptionKind.STATE_MISMATCH, status__in=OPEN_STATUSES,
        subject_key__startswith=_orphan_prefix(system)).exists()}
    by_actor = {}
    for obs in (obs for obs in found if obs.system in waiting):
        ref = obs.of_order
        who = timeline.SYSTEM_NAMES.get(ref.system, ref.system)
        by_actor.setdefault(obs.actor, {})[orphan_subject(obs.system, ref)] = (
            f"{who[:1].upper()}{who[1:]} reported order #{ref.number}: "
            f"{timeline.SYSTEM_NAMES.get(obs.system, obs.system)}'s word on it now applies to it")
    for actor, reasons in by_actor.items():
        exceptions_resolve(kind=ExceptionKind.STATE_MISMATCH, reasons=reasons, actor=actor)



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
        order = _lock_orders([(key, system)]).get(key)
        if order is None or (order.state == OrderState.DELETED and order.source_raw_status == raw_status):
            return Outcome.IGNORED
        observed_at = (order.source_observed_at or order.placed_at) + DELETION_AFTER
        orders.source_states_write([(order, system, raw_status, observed_at, event_ref)])
        events, followers = [], orders.Followers()
        if orders.order_move(order, OrderState.DELETED, actor, raw_status, events, followers,
                             source=timeline.source_of(system)):
            orders.orders_save([order])
        orders.orders_follow(followers, events)
        rows.insert_many(TimelineEvent, events)
        _resolve_mismatches([(order, system, OrderState.DELETED, actor)])
    return Outcome.APPLIED


def status_mapped(*, system, namespace, raw_status, meaning, actor, foreign=False):
    """A manager gave a raw status its meaning: the orders of the namespace waiting on it move to it
    (those the state graph allows; the others keep their state and open `state_mismatch`, as a
    refused move from the system itself does), and the status's `unmapped_status` exception is
    resolved. Returns how many orders moved.

    `foreign`: the system reports on orders born elsewhere (the ERP on the shop's orders; its
    namespace is where its statuses are mapped, an export profile): every order whose source state
    of that system carries the status waits on it, and refusals follow _refuse."""
    moved, agreed = 0, []
    with transaction.atomic():
        if meaning in statuses.CANONICAL_STATES:
            spellings = {raw_status, statuses.status_key(raw_status, system)}
            waiting = Order.objects.filter(source_states__system=system, source_states__raw_status__in=spellings)
            if not foreign:
                waiting = waiting.filter(namespace=namespace, system=system)
            waiting = waiting.select_related("customer").annotate(mismatch_open=_mismatch_open(system, foreign))
            for order in waiting.exclude(state=meaning):
                try:
                    moved += orders.order_transition(order=order, to_state=meaning, actor=actor, raw_status=raw_status,
                                                     source=timeline.source_of(system),
                                                     through=ON_THE_WAY if foreign else ())
                except OrderTransitionRefused as refused:
                    # The graph forbids it for this order: its state stays, and the disagreement
                    # (its system now means `meaning`) is owned, not only shown.
                    _refuse(order, system, raw_status, meaning, actor, refused, foreign)
                else:
                    agreed.append((order, system, meaning, actor))
            # An order that disagreed before (a move refused earlier) and now follows its system's
            # status agrees again: its mismatch resolves, in the manager's name.
            _resolve_mismatches(agreed)
        exception_resolve(kind=ExceptionKind.UNMAPPED_STATUS,
                          subject_key=statuses.unmapped_subject(system, namespace, raw_status),
                          reason=f"Mapped to {meaning} by {actor.ref}; {moved} orders re-derived", actor=actor)
    return moved


def orders_preview(*, observations):
    """What orders_observe would answer for each observation, reading only: no lock taken, nothing
    written (an import's dry run). The same lookup and stale rule; an order observed twice is judged
    the second time against the first, as the rounds would apply them."""
    now, work = timezone.now(), _Round()  # the notes it collects are dropped
    existing = _lock_orders(list(dict.fromkeys((obs.key, obs.system) for obs in observations)), lock=False)
    outcomes = []
    for obs in observations:
        observed_at = _observed_at(obs, now)
        order = existing.get(obs.key)
        if order is None:
            if obs.meaning == statuses.IGNORED:
                outcomes.append(Outcome.IGNORED)
                continue
            if obs.of_order is not None:
                outcomes.append(Outcome.ORPHAN)
                continue
            existing[obs.key] = order = Order(number=obs.number, state=obs.state or OrderState.PENDING_PAYMENT,
                                              total=obs.total, refunded_total=obs.refunded_total)
        elif not _newer(order, obs, observed_at, work):
            outcomes.append(Outcome.STALE)
            continue
        elif obs.state:
            with contextlib.suppress(OrderTransitionRefused):  # in memory only, its event dropped
                orders.order_move(order, obs.state, obs.actor, obs.raw_status, [], orders.Followers(),
                                  through=ON_THE_WAY if obs.of_order is not None else ())
        order.source_observed_at, order.source_raw_status, order.source_total = observed_at, obs.raw_status, obs.total
        if obs.of_order is None:
            order.total, order.refunded_total = obs.total, obs.refunded_total
        outcomes.append(Outcome.APPLIED)
    return outcomes


def statistics_refresh():
    """Refresh the planner's statistics of the tables observations grow (after a bulk load, as
    PostgreSQL advises: a first backfill grows them from little)."""
    rows.analyze(Order, OrderSourceState, Customer, CustomerIdentity, Ownership)
