"""Ownership changes. Every change is one Handoff row and one timeline event, in one transaction."""

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from lifecycle.models import Agent, Customer, ExceptionKind, Handoff, Ownership, Team
from lifecycle.services import rows, timeline
from lifecycle.services.errors import InvalidOwner, OwnershipChanged, PermissionDenied
from lifecycle.services.exceptions import exception_resolve

# Sentinel: "the caller did not say what owner it expects", as opposed to expecting no owner.
UNCHECKED = object()


def _sql(template):
    """SQL with the tables and columns named by the models, so a rename cannot silently break it."""
    from django.contrib.auth import get_user_model

    return template.format(
        ownership=Ownership._meta.db_table, team=Team._meta.db_table, agent=Agent._meta.db_table,
        user=get_user_model()._meta.db_table, customer=Customer._meta.db_table,
        next_handoff_id=rows.next_id_sql(Handoff),
    )


# The hottest read of every handoff, hand-written: Django's query compilation cost more than the
# round trip. The row is locked (FOR UPDATE OF the owner row only), carries the previous owner's
# label for the timeline, as Agent.__str__ and Team.__str__ would write it, and reserves the id of
# the Handoff about to be written (where ids can be reserved; see rows.py).
OWNER_ROW = """
    SELECT o.id, o.team_id, o.agent_id, t.name,
           COALESCE(NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''), u.username), {extra}
    FROM {ownership} o
    JOIN {team} t ON t.id = o.team_id
    LEFT JOIN {agent} a ON a.id = o.agent_id
    LEFT JOIN {user} u ON u.id = a.user_id
"""
LOCK_OWNER = OWNER_ROW.replace("{extra}", "{next_handoff_id}") + " WHERE o.customer_id = %s"
LOCK_CUSTOMER = "SELECT {next_handoff_id} FROM {customer} WHERE id = %s"
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


def _for_update(sql, of=""):
    if not connection.features.has_select_for_update:
        return sql
    return sql + (f" FOR UPDATE OF {of}" if of and connection.features.has_select_for_update_of else " FOR UPDATE")


def _lock_owner(customer):
    """(the customer's owner row, locked, or None when it has no owner yet; the next Handoff id or None).

    An existing owner row serialises every change of this customer. A first owner has no row yet:
    then the customer row is locked and the owner read again, so a first owner given concurrently
    is seen (and refused by the caller's expectation) rather than duplicated.
    """
    lock = _for_update(_sql(LOCK_OWNER), of="o")
    with connection.cursor() as cursor:
        cursor.execute(lock, [customer.pk])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(_for_update(_sql(LOCK_CUSTOMER)), [customer.pk])
            locked = cursor.fetchone()
            if locked is None:
                raise Customer.DoesNotExist(f"Customer #{customer.pk} no longer exists.")
            next_id = locked[0]
            cursor.execute(lock, [customer.pk])
            row = cursor.fetchone()
    if row is None:
        return None, next_id
    return OwnerRow(*row[:5]), row[5]


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
        current, handoff_id = _lock_owner(customer)
        seen = (current.team_id, current.agent_id) if current else None
        if expected is not UNCHECKED and seen != expected:
            raise OwnershipChanged(
                f"The owner of {customer} changed while you were looking; reload and try again."
            )
        if seen == (team.pk, agent.pk if agent else None):
            return None
        handoff = Handoff(
            id=handoff_id, customer=customer, from_team_id=current.team_id if current else None,
            from_agent_id=current.agent_id if current else None, to_team=team, to_agent=agent,
            reason=reason, rule=rule, detail=detail or {}, created_at=timezone.now(), **actor.as_fields(),
        )
        _write_handoff(customer, handoff, current, actor)
        if agent is not None and not (current and current.agent_id):
            # Every path that gives the customer an agent (routing, a manager, a claim) ends the
            # "no agent" clock here, in the same transaction. It can only run while there was no agent.
            exception_resolve(
                kind=ExceptionKind.UNASSIGNED_CUSTOMER, subject_key=f"customer:{customer.pk}", actor=actor,
                reason=f"{agent} owns the customer now ({reason})",
            )
    return handoff


def _write_handoff(customer, handoff, current, actor):
    """The Handoff, the owner row and the timeline event: one statement where ids are reserved ahead."""
    writes = []
    if handoff.pk is None:
        handoff.save(force_insert=True)
    else:
        writes.append(rows.insert_statement(handoff))
    if current:
        writes.append((_sql(MOVE_OWNER), [handoff.to_team_id, handoff.to_agent_id, handoff.created_at,
                                          handoff.pk, current.id]))
    else:
        owner = Ownership(customer=customer, team_id=handoff.to_team_id, agent_id=handoff.to_agent_id,
                          since=handoff.created_at, last_handoff_id=handoff.pk)
        writes.append(rows.insert_statement(owner))
    event = timeline.handoff_event(handoff=handoff, actor=actor, from_owner=current.label if current else "nobody")
    writes.append(rows.insert_statement(event))
    try:
        rows.execute_together(writes)
    except IntegrityError:
        # A second owner row: only reachable where row locks are not real (no SELECT FOR UPDATE).
        raise OwnershipChanged(f"{customer} was given an owner at the same moment; reload and try again.")
    rows.mark_saved(handoff)


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
