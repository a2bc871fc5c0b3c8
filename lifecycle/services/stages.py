"""Lifecycle stage moves. The move, its timeline event and the handoff to the stage's team share
one transaction: a customer is never in a stage with the previous stage's owner."""

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from lifecycle.models import STAGE_TRANSITIONS, Customer
from lifecycle.selectors.visibility import customer_visible_to
from lifecycle.services import timeline
from lifecycle.services.errors import PermissionDenied, StageMoveRefused
from lifecycle.services.ownership import ownership_route_to_stage_team


def is_backward(transition_name):
    return STAGE_TRANSITIONS[transition_name].custom.get("backward", False)


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
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        method = getattr(locked, transition)
        if not can_proceed(method):
            label = STAGE_TRANSITIONS[transition].custom["label"]
            raise StageMoveRefused(f"“{label}” is not possible from {locked.get_stage_display()}.")
        if actor.is_user and not has_transition_perm(method, actor.user):
            who = "a manager" if backward else "a user allowed to move stages"
            raise PermissionDenied(f"Moving a customer {'back' if backward else 'forward'} needs {who}.")
        if actor.is_user and not customer_visible_to(actor.user, customer.pk):
            raise PermissionDenied("You can only move customers of your own teams.")
        from_stage = locked.stage
        method()
        locked.stage_changed_at = timezone.now()
        locked.save()
        timeline.record_stage_changed(
            customer=locked, from_stage=from_stage, to_stage=locked.stage, transition=transition,
            reason=reason, actor=actor,
        )
        ownership_route_to_stage_team(
            customer=locked, stage=locked.stage, actor=actor,
            reason=reason or f"Stage {from_stage} → {locked.stage}",
        )
    customer.refresh_from_db()
    return customer


def available_stage_moves(customer, user):
    """The transitions this user may take from the customer's current stage (for buttons)."""
    return list(customer.get_available_user_stage_transitions(user))
