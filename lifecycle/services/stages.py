"""Lifecycle stage moves. A move, its timeline event and the handoff to the stage's team share one
transaction: a customer is never in a stage with the previous stage's owner.

One path for the moves rules make (orders.py: a batch's customers following their orders) and the
ones people make (customer_move_stage, a batch of one): stage_step moves a locked customer in
memory by its transition and collects the event; stages_settle writes the customers and hands
each one whose stage changed to its new stage's team, once.
"""

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from lifecycle.db import rows
from lifecycle.models import STAGE_TRANSITIONS, Customer, Stage, TimelineEvent
from lifecycle.selectors.visibility import customer_visible_to
from lifecycle.services import timeline
from lifecycle.services.customer_changes import customers_changed, stage_changes
from lifecycle.services.errors import PermissionDenied, StageMoveRefused
from lifecycle.services.journeys.start import journeys_start
from lifecycle.services.routing import RouteRequest, route_many


def is_backward(transition_name):
    return STAGE_TRANSITIONS[transition_name].custom.get("backward", False)


def stage_step(customer, transition, actor, reason, events):
    """Run the named transition on the locked `customer` in memory; its event goes to `events`."""
    from_stage = customer.stage
    getattr(customer, transition)()
    customer.stage_changed_at = timezone.now()
    events.append(timeline.stage_changed_event(customer=customer, from_stage=from_stage, to_stage=customer.stage,
                                               transition=transition, reason=reason, actor=actor))


def stages_follow(changes):
    """Write the locked customers changed in memory (stage_step, first order date), in one UPDATE,
    and hand each whose stage changed to the new stage's team: `changes` holds (customer, stage
    before, actor who moved it or None, reason) each. Returns the Handoffs."""
    if not changes:
        return []
    now = timezone.now()
    for customer, *_ in changes:
        customer.updated_at = now
    rows.update_many(Customer, [c for c, *_ in changes], ["first_order_at", "stage", "stage_changed_at",
                                                         "updated_at"])
    customers_changed(stage_changes, [c for c, from_stage, *_ in changes if c.stage != from_stage])  # CRM outbox
    routes = [RouteRequest(customer=customer, stage=customer.stage, actor=actor,
                           reason=reason or f"Stage {from_stage} → {customer.stage}")
              for customer, from_stage, actor, reason in changes if customer.stage != from_stage]
    handoffs = route_many(routes) if routes else []
    # The first 30 days begin: each customer that entered onboarding starts its playbook's journey.
    journeys_start([(customer, actor) for customer, from_stage, actor, _ in changes
                    if customer.stage == Stage.ONBOARDING and from_stage != Stage.ONBOARDING])
    return handoffs


def customer_move_stage(*, customer, transition, actor, reason=""):
    """Run the named stage transition on the customer and hand it to the new stage's team.

    Forward moves are taken by rules (orders, sweeps) or by users with `move_stage`. Backward moves
    need a user with `move_stage_backward` (managers) and a reason.
    """
    if transition not in STAGE_TRANSITIONS:
        raise StageMoveRefused(f"Unknown stage move {transition!r}.")
    reason = (reason or "").strip()
    backward = is_backward(transition)
    if backward and not actor.is_user:
        raise PermissionDenied("Backward stage moves are made by a manager, never automatically.")
    if backward and not reason:
        raise StageMoveRefused("A backward stage move needs a reason.")
    with transaction.atomic():
        locked = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
        method = getattr(locked, transition)
        if not can_proceed(method):
            label = STAGE_TRANSITIONS[transition].custom["label"]
            raise StageMoveRefused(f"“{label}” is not possible from {locked.get_stage_display()}.")
        if actor.is_user and not has_transition_perm(method, actor.user):
            who = "a manager" if backward else "a user allowed to move stages"
            raise PermissionDenied(f"Moving a customer {'back' if backward else 'forward'} needs {who}.")
        if actor.is_user and not customer_visible_to(actor.user, customer.pk):
            raise PermissionDenied("You can only move customers of your own teams.")
        events, from_stage = [], locked.stage
        stage_step(locked, transition, actor, reason, events)
        rows.insert_many(TimelineEvent, events)
        stages_follow([(locked, from_stage, actor, reason)])
    customer.refresh_from_db()
    return customer


def available_stage_moves(customer, user):
    """The transitions this user may take from the customer's current stage (for buttons)."""
    return list(customer.get_available_user_stage_transitions(user))
