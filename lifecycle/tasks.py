"""Sweeps over the lifecycle: thin tasks that find the work with one query and call services."""

import logging

from celery import shared_task

from lifecycle.selectors import routing as selectors
from lifecycle.actors import Actor
from lifecycle.models import Stage
from lifecycle.services.assignment import waiting_route
from lifecycle.services.routing import route_customer
from lifecycle.services.sla import sla_sweep

log = logging.getLogger(__name__)

# Enough to clear any realistic backlog in one run without holding a worker for minutes;
# the next beat run takes the rest.
SWEEP_BATCH = 500


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def assign_unowned_customers():
    """Give every customer that has orders but no owner its stage's default team (invariant 1).

    Rerunning is a no-op: a customer that has an owner is no longer selected.
    """
    customers = list(selectors.customers_with_orders_and_no_owner()[:SWEEP_BATCH])
    actor = Actor.task("assign_unowned_customers")
    for customer in customers:
        # A customer with orders is at least purchased; a prospect row means it was loaded around
        # the services, and commerce (the purchased stage's team) is the right first owner.
        stage = customer.stage if customer.stage != Stage.PROSPECT else Stage.PURCHASED
        route_customer(
            customer=customer, stage=stage, actor=actor, reason="Customer had orders but no owner"
        )
    if customers:
        log.warning("assigned an owner to %d customers that had none", len(customers))
    return len(customers)


@shared_task
def sweep_sla():
    """Escalate every exception past its SLA due time (services.sla.sla_sweep); returns how many.

    No retries: the beat runs it every minute, so the next run is the retry, and a rerun is a
    no-op for what this one already escalated (breached_at is set).
    """
    breached = sla_sweep(actor=Actor.task("sweep_sla"))
    if breached:
        log.warning("escalated %d exceptions past their SLA to the managers' queue", breached)
    return breached


@shared_task
def route_waiting_customers(team_ids=None):
    """Hand the waiting customers of these teams (None: every team with some) to agents with room,
    oldest first (services.assignment.waiting_route); returns how many got an agent.

    Queued when room appears (services/room.py) and run every minute by the beat. No retries: the
    next run is the retry, and a rerun routes only who still waits.
    """
    handoffs = waiting_route(team_ids=team_ids, actor=Actor.task("route_waiting_customers"))
    if handoffs:
        log.info("routed %d waiting customers to agents with room", len(handoffs))
    return len(handoffs)


@shared_task
def reconcile_orders(order_ids=None, full=False):
    """Compare the orders' systems under the tolerance rules (services.reconcile.reconcile): the
    given orders, or every order (`full`), or those changed or due since the last run (the beat's
    run, every 5 minutes). Returns what it did.

    No retries: the next beat run is the retry, and a rerun opens nothing twice (one open
    state_mismatch per order) and changes only what changed since.
    """
    from lifecycle.services.reconcile import reconcile

    run = reconcile(order_ids=order_ids, full=full, actor=Actor.task("reconcile_orders"))
    if run.opened or run.resolved:
        log.info("reconciliation opened %d and resolved %d state mismatches", run.opened, run.resolved)
    return {"evaluated": run.evaluated, "opened": run.opened, "updated": run.updated, "resolved": run.resolved}


@shared_task
def recompute_health():
    """Recompute every customer's health score (the nightly run; queued too when a manager publishes a
    new policy): services.health.health_recompute_all. No retries: a rerun recomputes the same scores
    and writes no band change twice (the stored band is compared under the row lock)."""
    from lifecycle.services.health import health_recompute_all

    result = health_recompute_all(actor=Actor.task("recompute_health"))
    return {"customers": result.customers, "band_changes": result.band_changes, "moves": result.moves,
            "seconds": round(result.seconds, 1)}


# Batches of events one follow_health run reads at most: a store's backfill is caught up over a few
# runs, and a run ends well within its minute.
FOLLOW_ROUNDS = 5


@shared_task
def follow_health():
    """Turn the timeline's new events into health work (services/health_follower.py: stale scores,
    refunds and critical exceptions past SLA to at_risk), then recompute the stale scores; every minute
    by the beat. A backlog is read a batch at a time, up to FOLLOW_ROUNDS batches a run. No retries:
    the next run is the retry, and the watermark moves with what was acted on."""
    from lifecycle.services.health import health_recompute_stale
    from lifecycle.services.health_follower import BATCH, health_follow

    actor = Actor.task("follow_health")
    events = 0
    for _ in range(FOLLOW_ROUNDS):
        followed = health_follow(actor=actor)
        events += followed.events
        if followed.events < BATCH:
            break
    return {"events": events, "recomputed": health_recompute_stale(actor=actor).customers}



@shared_task
def sweep_churn():
    """Churn the customers with no paid order and no activity for the health policy's churn window
    (services.automation.churn_sweep); daily by the beat. A rerun churns nobody twice (they are
    churned)."""
    from lifecycle.services.automation import churn_sweep
    from lifecycle.services.health import active_policy

    churned = churn_sweep(actor=Actor.task("sweep_churn"), policy=active_policy())
    if churned:
        log.info("churned %d customers silent for the churn window", churned)
    return churned


# The journeys' tasks live in their own module: importing them here registers them with the worker.
from lifecycle.tasks_journeys import follow_journeys, sweep_journeys  # noqa: E402, F401
