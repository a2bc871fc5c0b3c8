"""Ownership changes. Every change is one Handoff row and one timeline event, in one transaction."""

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from lifecycle.models import Agent, Customer, ExceptionKind, Handoff, Ownership, Team
from lifecycle.services import timeline
from lifecycle.services.errors import InvalidOwner, OwnershipChanged, PermissionDenied
from lifecycle.services.exceptions import exception_resolve

# Sentinel: "the caller did not say what owner it expects", as opposed to expecting no owner.
UNCHECKED = object()


def _sql(template):
    """SQL with the tables and columns named by the models, so a rename cannot silently break it."""
    from django.contrib.auth import get_user_model

    return template.format(
        ownership=Ownership._meta.db_table, team=Team._meta.db_table, agent=Agent._meta.db_table,
        user=get_user_model()._meta.db_table,
    )


# The hottest read of every handoff, hand-written: Django's query compilation cost more than the
# round trip. The row is locked (FOR UPDATE OF the owner row only) and carries the previous owner's
# label for the timeline, as Agent.__str__ and Team.__str__ would write it.
LOCK_OWNER = """
    SELECT o.id, o.team_id, o.agent_id, t.name,
           COALESCE(NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''), u.username)
    FROM {ownership} o
    JOIN {team} t ON t.id = o.team_id
    LEFT JOIN {agent} a ON a.id = o.agent_id
    LEFT JOIN {user} u ON u.id = a.user_id
    WHERE o.customer_id = %s
"""
MOVE_OWNER = "UPDATE {ownership} SET team_id = %s, agent_id = %s, since = %s, last_handoff_id = %s WHERE id = %s"


@dataclass(frozen=True)
class OwnerRow:
    id: int
    team_id: int
    agent_id: int | None
    team_name: str
    agent_name: str | None

    @property
    def label(self):
        return f"{self.team_name} / {self.agent_name or 'unassigned'}"


def _lock_owner(customer):
    """The customer's owner row, locked; None when it has no owner yet.

    An existing owner row serialises every change of this customer. A first owner has no row yet:
    then the customer row is locked and the owner read again, so a first owner given concurrently
    is seen (and refused by the caller's expectation) rather than duplicated.
    """
    lock = _sql(LOCK_OWNER) + (" FOR UPDATE OF o" if connection.features.has_select_for_update_of else "")
    with connection.cursor() as cursor:
        cursor.execute(lock, [customer.pk])
        row = cursor.fetchone()
        if row is None:
            Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").get()
            cursor.execute(lock, [customer.pk])
            row = cursor.fetchone()
    return OwnerRow(*row) if row else None


def ownership_transfer(*, customer, team, agent=None, reason, actor, rule="", detail=None, expected=UNCHECKED):
    """Make (team, agent) the customer's owner; return the Handoff, or None when nothing changes.

    `expected` is the (team_id, agent_id) the caller saw, or None for "no owner yet": when the
    owner has changed since, OwnershipChanged is raised and nothing is written, so two people
    reassigning the same customer at once never silently overwrite each other.
    """
    if agent is not None:
        # all() reads the caller's prefetch_related("teams") when there is one (routing, bulk jobs).
        if team.pk not in {t.pk for t in agent.teams.all()}:
            raise InvalidOwner(f"{agent} is not a member of {team}")
        if not agent.user.is_active:
            raise InvalidOwner(f"{agent} is deactivated")
    with transaction.atomic():
        current = _lock_owner(customer)
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
            with connection.cursor() as cursor:
                cursor.execute(_sql(MOVE_OWNER), [team.pk, agent.pk if agent else None, now, handoff.pk, current.id])
        else:
            try:
                with transaction.atomic():
                    Ownership.objects.create(customer=customer, team=team, agent=agent, since=now, last_handoff=handoff)
            except IntegrityError:
                # Only reachable where row locks are not real (a backend without SELECT FOR UPDATE).
                raise OwnershipChanged(f"{customer} was given an owner at the same moment; reload and try again.")
        timeline.record_handoff(handoff=handoff, actor=actor, from_owner=current.label if current else "nobody")
        if agent is not None and not (current and current.agent_id):
            # Every path that gives the customer an agent (routing, a manager, a claim) ends the
            # "no agent" clock here, in the same transaction. It can only run while there was no agent.
            exception_resolve(
                kind=ExceptionKind.UNASSIGNED_CUSTOMER, subject_key=f"customer:{customer.pk}", actor=actor,
                reason=f"{agent} owns the customer now ({reason})",
            )
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


def ownership_route_to_stage_team(*, customer, stage, reason, actor, order=None):
    """Hand the customer to the team and agent routing picks for `stage` (see services/routing.py)."""
    # Imported here: routing builds on ownership_transfer above, so a module-level import would be circular.
    from lifecycle.services.routing import route_customer

    return route_customer(customer=customer, stage=stage, reason=reason, actor=actor, order=order)
