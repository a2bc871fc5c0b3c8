"""Journeys start as customers enter onboarding, in the transaction that moved them (stages_follow
calls journeys_start for the rule-made and the people-made moves alike, one call per batch).

Day 0 is the payment of the customer's latest paid order: its steps' calendar due times count from
it. When a person moved the customer (a manager restarting onboarding), day 0 is the move itself.
History arriving late (a store's backfill of orders paid months ago) starts no journey whose last
step was due before it arrived: nobody could still follow it. A step already due when the journey
starts is missed by the next sweep, like any other.
"""

from collections import defaultdict
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.db import rows
from lifecycle.models import PAID_STATES, Journey, JourneyStatus, JourneyStep, Order, TimelineEvent
from lifecycle.services.journeys.events import journey_started_event
from lifecycle.services.journeys.playbooks import StartFacts, choose_version, latest_versions
from lifecycle.services.journeys.timing import ON_TIME_GRACE

SYSTEM = Actor.system("journeys")


def journeys_start(entered, *, now=None):
    """Start, for each customer that just entered onboarding, the latest version of the playbook it
    matches (playbooks.choose_version). `entered`: [(customer, actor that moved it or None)], rows
    the caller locked in its transaction. Returns the Journeys started."""
    if not entered:
        return []
    versions = latest_versions()
    if not versions:
        return []
    now = now or timezone.now()
    ids = [customer.pk for customer, _ in entered]
    orders, history = _latest_paid_orders(ids), _history(ids)
    journeys, step_rows, events = [], [], []
    for customer, actor in entered:
        order, paid = orders.get(customer.pk, (None, 0))
        version = choose_version(versions, StartFacts(order, paid <= 1, history.get(customer.pk, {})), now)
        if version is None:
            continue
        by_person = actor is not None and actor.is_user
        started_at = now if by_person or order is None else (order.paid_at or order.placed_at)
        if started_at + timedelta(days=max(s["due_days"] for s in version.steps)) + ON_TIME_GRACE < now:
            continue  # its window closed before the console heard of it
        journey = Journey(customer_id=customer.pk, playbook_id=version.playbook_id, version=version,
                          order_id=order.pk if order else None, started_at=started_at, status=JourneyStatus.RUNNING)
        journeys.append((journey, version, actor or SYSTEM))
    if not journeys:
        return []
    rows.insert_many(Journey, [j for j, _, _ in journeys])
    for journey, version, actor in journeys:
        steps = [_step(journey, s) for s in version.steps]
        step_rows += steps
        events.append(journey_started_event(journey=journey, playbook_name=version.playbook.name,
                                            version_number=version.number, steps=steps, actor=actor))
    rows.insert_many(JourneyStep, step_rows)
    rows.insert_many(TimelineEvent, events)
    # The payment that started them completes their first step: follow it soon (the beat's minute
    # run catches what a lost or skipped wake-up leaves).
    transaction.on_commit(_wake_follower, robust=True)
    return [j for j, _, _ in journeys]


def _step(journey, snapshot):
    due = journey.started_at + timedelta(days=snapshot["due_days"])
    return JourneyStep(journey=journey, customer_id=journey.customer_id, position=snapshot["position"],
                       key=snapshot["key"], name=snapshot["name"], team_id=snapshot["team_id"],
                       trigger=snapshot["trigger"], trigger_days=snapshot["trigger_days"],
                       signals=snapshot["signals"], sla_minutes=snapshot["sla_minutes"],
                       calendar_due_at=due, due_at=due)


def _latest_paid_orders(customer_ids):
    """{customer id: (its latest paid order, how many paid orders it has)}: one query."""
    found, counts = {}, defaultdict(int)
    paid = (Order.objects.filter(customer_id__in=customer_ids, state__in=PAID_STATES)
            .only("id", "customer_id", "namespace", "total", "product_categories", "paid_at", "placed_at", "state"))
    for order in paid:
        counts[order.customer_id] += 1
        best = found.get(order.customer_id)
        moment = order.paid_at or order.placed_at
        if best is None or moment > (best.paid_at or best.placed_at):
            found[order.customer_id] = order
    return {pk: (order, counts[pk]) for pk, order in found.items()}


def _history(customer_ids):
    """{customer id: {playbook id: (a journey of it running?, when the last one ended)}}: one query."""
    history = defaultdict(dict)
    for customer_id, playbook_id, status, ended_at in (
            Journey.objects.filter(customer_id__in=customer_ids).order_by()
            .values_list("customer_id", "playbook_id", "status", "ended_at")):
        running, last = history[customer_id].get(playbook_id, (False, None))
        if ended_at and (last is None or ended_at > last):
            last = ended_at
        history[customer_id][playbook_id] = (running or status == JourneyStatus.RUNNING, last)
    return history


# A checkout rush starts a journey per paid order: one follower run per process in this many seconds
# is enough, and a task per order would crowd the worker that processes the orders.
WAKE_EVERY_SECONDS = 30


def _wake_follower():
    from lifecycle.tasks_journeys import follow_journeys  # the tasks import the services

    if cache.add("lifecycle:journeys:wake", True, WAKE_EVERY_SECONDS):
        follow_journeys.delay()
