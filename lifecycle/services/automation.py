"""Lifecycle automation: the stage moves DOMAIN.md's "enters when" dictates from evidence, made by
tasks through lifecycle/services/stages.py (stage_step + stages_follow: the transition, its timeline
event and the handoff to the new stage's team through the routing rules), each with a reason that
names the evidence.

- Health fell below the policy's intervene line → at_risk (from onboarding, active or loyal), and an
  `at_risk` exception for the owner team; rising out of intervene resolves it, saying why.
- Health above the expand line with repeat purchases → loyal (from active); listed as an expansion
  candidate (lifecycle/selectors/health.py) in any stage.
- An order refunded in whole or part (a chargeback reaches the console as a refund) → at_risk.
- A critical exception open past its SLA → at_risk.
- No paid order and no activity for the churn window → churned (churn_sweep).

Moves the graph refuses from the customer's stage now are skipped (a churned customer is not flagged
at risk); backward moves are never automatic. The order path moves the stages that orders alone
decide (lifecycle/services/orders.py: onboarding → active, churned → active, all orders dead → churned).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django_fsm import can_proceed

from lifecycle.db import health_events
from lifecycle.db import rows
from lifecycle.models import Band, Customer, ExceptionKind, Order, OrderState, Severity, Stage
from lifecycle.models import TimelineEvent
from lifecycle.services import health_score
from lifecycle.services.errors import ServiceError
from lifecycle.services.exceptions import Raise, exceptions_raise, exceptions_resolve
from lifecycle.services.stages import is_backward, stage_step, stages_follow

log = logging.getLogger(__name__)

AT_RISK = ExceptionKind.AT_RISK
# The stages the churn transition leaves (one Transition per source in django-fsm).
CHURN_FROM = sorted({str(t.source) for t in Customer._meta.get_field("stage").get_all_transitions(Customer)
                     if t.name == "churn"})
CHURN_PAGE = 500  # customers moved per transaction: each is a stage move and a handoff


@dataclass(frozen=True)
class Move:
    customer_id: int
    transition: str
    reason: str


def at_risk_subject(customer_id):
    """The one subject of a customer's `at_risk` exception."""
    return f"customer:{customer_id}"


def stages_move(moves, *, actor):
    """Make the moves (the first per customer) in one transaction: lock the customers in id order, skip
    those whose stage no longer allows the move, step the rest and hand them to their new stages'
    teams once (stages_follow). Returns {customer id: stage} of the customers moved. The lock (NO KEY
    UPDATE) keeps other writers of these customers out, not the rows others write that refer to them:
    a drain's or a sweep's commit checking its events' customers never waits for the health follower."""
    wanted = {}
    for move in moves:
        if not is_backward(move.transition):
            wanted.setdefault(move.customer_id, move)
    if not wanted:
        return {}
    with transaction.atomic():
        events, changes = [], []
        for customer in Customer.objects.select_for_update(no_key=True).filter(pk__in=list(wanted)).order_by("pk"):
            move = wanted[customer.pk]
            if not can_proceed(getattr(customer, move.transition)):
                continue
            from_stage = customer.stage
            stage_step(customer, move.transition, actor, move.reason, events)
            changes.append((customer, from_stage, actor, move.reason))
        rows.insert_many(TimelineEvent, events)
        stages_follow(changes)
    return {customer.pk: customer.stage for customer, *_ in changes}


def _guarded(what, work):
    """Run one automation step in its own savepoint: a step a rule refuses (a stage whose team was
    removed) is logged and left, and the run that called it (a score's recompute) still commits."""
    try:
        with transaction.atomic():
            return work()
    except ServiceError as error:
        log.warning("health automation: %s skipped: %s", what, error)
        return None


def health_changes_follow(changes, *, policy, actor):
    """Act on a recompute's band changes (health.Change each): at_risk and its exception below the
    intervene line, the exception resolved above it, loyal for new expansion candidates. Returns how
    many stage moves were made."""
    low = [c for c in changes if c.scored.band == Band.INTERVENE and c.old_band != Band.INTERVENE]
    up = [c for c in changes if c.old_band == Band.INTERVENE and c.scored.band in (Band.OPTIMIZE, Band.EXPAND)]
    loyal = [c for c in changes if c.newly_expanding]
    moved = {}
    if low:
        moved |= _guarded("at_risk on low health", lambda: stages_move(
            [Move(c.customer_id, "flag_at_risk", health_score.low_reason(c.scored, policy)) for c in low],
            actor=actor)) or {}
        _guarded("at_risk exceptions", lambda: _raise_at_risk(low, policy, actor))
    if up:
        exceptions_resolve(kind=AT_RISK, actor=actor, reasons={
            at_risk_subject(c.customer_id): f"Health {c.scored.score}: back at or above {policy.intervene_below}"
            for c in up})
    if loyal:
        moved |= _guarded("loyal on high health", lambda: stages_move(
            [Move(c.customer_id, "make_loyal", health_score.high_reason(c.scored, policy)) for c in loyal],
            actor=actor)) or {}
    return len(moved)


def _raise_at_risk(low, policy, actor):
    """The `at_risk` exceptions of the low customers now in the at_risk stage, for their owner teams
    (the kind's policy routes them there), in one batch."""
    by_id = {c.customer_id: c for c in low}
    at_risk = Customer.objects.filter(pk__in=list(by_id), stage=Stage.AT_RISK).order_by("pk").values_list("pk", flat=True)
    exceptions_raise(kind=AT_RISK, actor=actor, raises=[
        Raise(subject_key=at_risk_subject(customer_id), customer=customer_id,
              summary=health_score.low_reason(by_id[customer_id].scored, policy),
              evidence={"score": by_id[customer_id].scored.score, "below": policy.intervene_below})
        for customer_id in at_risk])


def refunds_follow(refunds, *, actor):
    """At risk on a refund: `refunds` holds (customer id, order id, state it moved to) of orders that
    moved to refunded or partially refunded. Returns how many customers moved."""
    if not refunds:
        return 0
    numbers = dict(Order.objects.filter(pk__in={order_id for _, order_id, _ in refunds}).values_list("pk", "number"))
    moves = [Move(customer_id, "flag_at_risk",
                  f"{'Partial refund' if to == OrderState.PARTIALLY_REFUNDED else 'Refund'} on order "
                  f"#{numbers.get(order_id, order_id)}")
             for customer_id, order_id, to in refunds]
    return len(_guarded("at_risk on refunds", lambda: stages_move(moves, actor=actor)) or {})


def critical_follow(customer_ids, *, now, actor):
    """At risk on a critical exception open past its SLA, for the customers given (those whose
    exceptions the SLA sweep just escalated). Returns how many customers moved."""
    overdue = health_events.critical_past_due(sorted(customer_ids), now, Severity.CRITICAL)
    moves = [Move(customer_id, "flag_at_risk",
                  f"Critical exception open past its SLA: {ExceptionKind(kind).label}: {summary} "
                  f"(due {timesince(due, now).split(',')[0]} ago)")
             for customer_id, (kind, summary, due) in overdue.items()]
    return len(_guarded("at_risk on critical exceptions", lambda: stages_move(moves, actor=actor)) or {})


def churn_sweep(*, actor, policy, now=None):
    """Churn every customer with no paid order and no activity for the policy's churn window, a page
    at a time (one set-based read, then the moves). Returns how many churned."""
    now = now or timezone.now()
    cutoff, after, churned = now - timedelta(days=policy.churn_days), 0, 0
    while found := health_events.churn_candidates(cutoff=cutoff, stages=CHURN_FROM, after_id=after, limit=CHURN_PAGE,
                                                activity_kinds=health_score.ACTIVITY_KINDS):
        moves = [Move(customer_id, "churn", _churn_reason(policy, now, paid, active))
                 for customer_id, paid, active in found]
        churned += len(_guarded("churn", lambda: stages_move(moves, actor=actor)) or {})
        after = found[-1][0]
    return churned


def _churn_reason(policy, now, last_paid, last_activity):
    paid = f"last paid order {date_format(timezone.localtime(last_paid), 'DATE_FORMAT')}" if last_paid \
        else "no paid order"
    active = f"last activity {(now - last_activity).days} days ago" if last_activity else "no activity"
    return f"No paid order and no activity for {policy.churn_days} days: {paid}, {active}"
