"""The CRM's sync failures: one `sync_failure` per connection and cause, never one per customer.

- access: HubSpot refused the token or a scope (raised at once, with the adapter's sentence);
  resolved by the next delivery or check that HubSpot accepts.
- dead/<cause>: messages dead-lettered for one cause (server errors, timeouts, refused contacts …),
  the evidence counting them; resolved once none of that cause is left (replayed and delivered).
- owners: agents without a HubSpot owner, whose customers' owner waits; resolved once no owner
  change waits for one.
- daily-cap: deliveries stopped before HubSpot's daily request cap (daily_cap.py); resolved by the
  next delivery that goes through.
"""

from django.db.models import Count

from integrations.crm.models import CrmOwnerLink, OutboundMessage
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise, exceptions_resolve

SYNC_FAILURE = ExceptionKind.SYNC_FAILURE
M = OutboundMessage.State
ITEM = "item"  # HubSpot refused one contact of a batch
# Every cause a message is dead-lettered for: CrmError's kinds and a refused contact.
DEAD_CAUSES = ("server", "timeout", "unreachable", "rate_limit", "bad_request", "auth", "scope", ITEM)


def access_subject(connection):
    return f"crm:{connection.pk}/access"


def dead_subject(connection, cause):
    return f"crm:{connection.pk}/dead/{cause}"


def owners_subject(connection):
    return f"crm:{connection.pk}/owners"


def _evidence(connection, **more):
    return {"connection": connection.name, "connection_id": connection.pk, "base_url": connection.base_url, **more}


def access_failure_raise(*, connection, error, actor):
    exception_raise(kind=SYNC_FAILURE, subject_key=access_subject(connection), actor=actor,
                    summary=f"{connection.name}: {error.message}",
                    evidence=_evidence(connection, kind=error.kind, error=error.message))


def access_failure_resolve(*, connection, actor, reason):
    exceptions_resolve(kind=SYNC_FAILURE, reasons={access_subject(connection): reason}, actor=actor)


def dead_letters_raise(*, connection, cause, error, actor):
    """(Re)open the connection's sync_failure for `cause`, counting its dead letters now."""
    dead = OutboundMessage.objects.filter(connection=connection, state=M.DEAD, error_kind=cause).count()
    exception_raise(
        kind=SYNC_FAILURE, subject_key=dead_subject(connection, cause), actor=actor,
        summary=f"{connection.name}: {dead} change{'s' if dead != 1 else ''} could not be sent to the CRM "
                f"({error}). Replay them from the outbox once the cause is fixed.",
        evidence=_evidence(connection, cause=cause, dead=dead, last_error=error),
    )


def dead_letters_settle(*, connection, actor):
    """Resolve the dead-letter failures of the causes with no dead letter left (one grouped count)."""
    left = dict(OutboundMessage.objects.filter(connection=connection, state=M.DEAD).order_by()
                .values_list("error_kind").annotate(n=Count("pk")))
    cleared = {dead_subject(connection, cause): "Every dead letter of this cause was delivered or replaced."
               for cause in DEAD_CAUSES if not left.get(cause)}
    exceptions_resolve(kind=SYNC_FAILURE, reasons=cleared, actor=actor)


def owners_missing_raise(*, connection, agent_ids, actor):
    """One sync_failure for the connection naming every agent without a HubSpot owner."""
    links = (CrmOwnerLink.objects.filter(connection=connection, agent_id__in=agent_ids)
             .select_related("agent__user").order_by("agent__user__username"))
    agents = [{"agent_id": link.agent_id, "name": str(link.agent), "email": link.agent.user.email} for link in links]
    waiting = OutboundMessage.objects.filter(connection=connection, state=M.PENDING, error_kind="no_owner").count()
    names = ", ".join(f"{a['name']} ({a['email'] or 'no email'})" for a in agents)
    exception_raise(
        kind=SYNC_FAILURE, subject_key=owners_subject(connection), actor=actor,
        summary=f"{connection.name}: no HubSpot owner has the email of {names}; their customers' owner is not "
                "sent until one does (add the user in HubSpot, then check the connection).",
        evidence=_evidence(connection, agents=agents, waiting=waiting),
    )


def owners_missing_resolve(*, connection, actor):
    exceptions_resolve(kind=SYNC_FAILURE, reasons={owners_subject(connection): "Every agent has a HubSpot owner."},
                       actor=actor)


def daily_cap_subject(connection):
    return f"crm:{connection.pk}/daily-cap"


def daily_cap_raise(*, connection, why, actor):
    exception_raise(kind=SYNC_FAILURE, subject_key=daily_cap_subject(connection), actor=actor,
                    summary=f"{connection.name}: {why}", evidence=_evidence(connection, daily_cap=connection.daily_cap,
                                                                            error=why))


def daily_cap_resolve(*, connection, actor):
    exceptions_resolve(kind=SYNC_FAILURE, reasons={
        daily_cap_subject(connection): "Deliveries go through again (a new day, or a higher daily cap)."}, actor=actor)
