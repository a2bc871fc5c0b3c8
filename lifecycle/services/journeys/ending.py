"""A journey ends: completed at its last step (the customer then moves onboarding → active, a
transition with its handoff through routing and a reason naming the evidence), or early when one
of its version's exit criteria happens (a refund, a cancellation, churn).

Either way the steps still pending are skipped, and the missed ones' open missed_touchpoint
exceptions are resolved with the reason: nothing is left to catch up in a journey that is over.
"""

from django_fsm import can_proceed

from lifecycle.models import Customer, JourneyStatus, Stage, StepState
from lifecycle.services.journeys.events import journey_ended_event
from lifecycle.services.stages import stage_step, stages_follow

DONE = (StepState.DONE, StepState.LATE)


def subject_of(step_id):
    """The missed_touchpoint exception's subject for a step."""
    return f"journey_step:{step_id}"


def _end(batch, journey, steps, *, status, reason):
    journey.status, journey.ended_at, journey.end_reason = status, batch.now, reason[:300]
    batch.journeys[journey.pk] = journey
    for step in steps:
        if step.state == StepState.PENDING:
            step.state = StepState.SKIPPED
            batch.steps[step.pk] = step
        elif step.state == StepState.MISSED:
            ended = "completed" if status == JourneyStatus.COMPLETED else "ended"
            batch.resolve[subject_of(step.pk)] = f"The journey {ended}: {reason}"
    batch.events.append(journey_ended_event(journey=journey, playbook_name=journey.playbook.name,
                                            completed=status == JourneyStatus.COMPLETED, reason=reason,
                                            actor=batch.actor))


def end_early(batch, journey, steps, reason):
    _end(batch, journey, steps, status=JourneyStatus.EXITED, reason=reason)


def complete_finished(batch, journeys, steps_by_customer):
    """Complete every running journey of the batch whose last step is done."""
    touched = {step.journey_id for step in batch.steps.values()}
    for journey_id in sorted(touched):
        journey = journeys[journey_id]
        if journey.status != JourneyStatus.RUNNING:
            continue
        steps = [s for s in steps_by_customer[journey.customer_id] if s.journey_id == journey_id]
        last = max(steps, key=lambda s: (s.position, s.pk))
        if last.state in DONE:
            _end(batch, journey, steps, status=JourneyStatus.COMPLETED,
                 reason=f"{last.name} done ({last.done_by.get('said', '')})")
            batch.completed.append((journey, last))


def activate(batch):
    """Move the onboarding customers whose journey completed to active, in memory (their events join
    the batch's); the changes for stages_follow_activated. The caller holds their rows' locks."""
    changes = []
    customers = Customer.objects.in_bulk([journey.customer_id for journey, _ in batch.completed])
    for journey, last in batch.completed:
        customer = customers[journey.customer_id]
        if customer.stage != Stage.ONBOARDING or not can_proceed(customer.activate):
            continue  # moved on meanwhile (active by a second order, at risk): the journey still completed
        reason = f"Journey “{journey.playbook.name}” completed: {journey.end_reason}"
        stage_step(customer, "activate", batch.actor, reason, batch.events)
        changes.append((customer, Stage.ONBOARDING, batch.actor, reason))
    return changes


def stages_follow_activated(changes):
    """Write the activated customers and hand them to the active stage's team (stages_follow)."""
    stages_follow(changes)
