"""Ownership changes. Every change is one Handoff row and one timeline event, in one transaction."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from lifecycle import rules, selectors
from lifecycle.models import Agent, Customer, Handoff, Ownership
from lifecycle.services import timeline
from lifecycle.services.errors import InvalidOwner, NoOwningTeam, OwnershipChanged, PermissionDenied

# Sentinel: "the caller did not say what owner it expects", as opposed to expecting no owner.
UNCHECKED = object()


def ownership_transfer(*, customer, team, agent=None, reason, actor, rule="", detail=None, expected=UNCHECKED):
    """Make (team, agent) the customer's owner; return the Handoff, or None when nothing changes.

    `expected` is the (team_id, agent_id) the caller saw, or None for "no owner yet": when the
    owner has changed since, OwnershipChanged is raised and nothing is written, so two people
    reassigning the same customer at once never silently overwrite each other.
    """
    if agent is not None and not agent.teams.filter(pk=team.pk).exists():
        raise InvalidOwner(f"{agent} is not a member of {team}")
    if agent is not None and not agent.user.is_active:
        raise InvalidOwner(f"{agent} is deactivated")
    with transaction.atomic():
        # Lock the customer row: it serialises every ownership change of this customer, including
        # the very first one, when there is no Ownership row yet to lock.
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").get()
        current = Ownership.objects.select_for_update().filter(customer_id=customer.pk).first()
        seen = (current.team_id, current.agent_id) if current else None
        if expected is not UNCHECKED and seen != expected:
            raise OwnershipChanged(
                f"The owner of {customer} changed while you were looking; reload and try again."
            )
        if seen == (team.pk, agent.pk if agent else None):
            return None
        now = timezone.now()
        handoff = Handoff.objects.create(
            customer=customer,
            from_team_id=current.team_id if current else None,
            from_agent_id=current.agent_id if current else None,
            to_team=team,
            to_agent=agent,
            reason=reason,
            rule=rule,
            detail=detail or {},
            created_at=now,
            **actor.as_fields(),
        )
        if current:
            current.team, current.agent, current.since, current.last_handoff = team, agent, now, handoff
            current.save(update_fields=["team", "agent", "since", "last_handoff"])
        else:
            try:
                with transaction.atomic():
                    Ownership.objects.create(customer=customer, team=team, agent=agent, since=now, last_handoff=handoff)
            except IntegrityError:
                # Only reachable where row locks are not real (a backend without SELECT FOR UPDATE).
                raise OwnershipChanged(f"{customer} was given an owner at the same moment; reload and try again.")
        timeline.record_handoff(handoff=handoff, actor=actor)
    return handoff


def owner_reassign(*, customer, team, agent=None, reason, actor, expected=UNCHECKED):
    """A person reassigns a customer: needs the permission and a reason."""
    if not actor.has_perm("lifecycle.reassign_owner"):
        raise PermissionDenied("Only managers can reassign a customer's owner.")
    if not (reason or "").strip():
        raise InvalidOwner("A reassignment needs a reason.")
    return ownership_transfer(
        customer=customer, team=team, agent=agent, reason=reason.strip(), actor=actor,
        rule="manual", expected=expected,
    )


def choose_agent(team, prefer=None):
    """Until routing rules exist: the least-loaded available agent of the team (sticky first)."""
    return rules.choose_least_loaded(selectors.agent_loads(team), prefer=prefer)


def ownership_route_to_stage_team(*, customer, stage, reason, actor):
    """Hand the customer to the default team of `stage`, keeping the agent when they are in it."""
    team = selectors.team_for_stage(stage)
    if team is None:
        raise NoOwningTeam(f"No team owns the stage {stage!r}; a manager must set one in Stage owners.")
    current = Ownership.objects.filter(customer_id=customer.pk).first()
    if current and current.team_id == team.pk:
        return None
    choice = choose_agent(team, prefer=current.agent_id if current else None)
    agent = Agent.objects.select_related("user").get(pk=choice.agent_id) if choice.agent_id else None
    return ownership_transfer(
        customer=customer,
        team=team,
        agent=agent,
        reason=reason,
        actor=actor,
        rule=f"stage_default:{stage}/{choice.rule}",
        detail={"skipped": {str(k): v for k, v in choice.skipped.items()}},
    )
