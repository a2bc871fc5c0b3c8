"""Connecting a CRM and checking it: the token and its scopes, the owners agents map to, and the
account's lifecycle stages.

crm_connect (`manage.py connect_crm`, the admin's add form) creates or updates a connection by its
name and checks it; crm_connection_check (the admin's "Check connection") asks HubSpot again. A
check HubSpot refuses records why on the connection and opens `sync_failure` with the adapter's
sentence; one that passes resolves it and makes the messages that waited for it due at once.

A check that could not ask (HubSpot unreachable, a 5xx) proves nothing about the token: it records
its sentence but leaves `check_ok` unknown (None), so the deliveries are not held for it. A
connection whose check_ok is unknown, such as one saved without a check (`connect_crm --no-check`,
for a CRM not up yet, like the sandbox `make run` starts beside the console), is checked by the
first delivery or pull that finds it so (connection_checked): nothing waits for a person.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from integrations.crm import daily_cap, deals, failures
from integrations.crm.base import CrmError
from integrations.crm.models import DEFAULT_STAGE_MAP, HUBSPOT_API, CrmConnection, CrmOwnerLink, CrmStageMapping
from integrations.crm.outbox import OPERATE, outbox_first_push, outbox_retime
from lifecycle.models import Agent, Stage
from lifecycle.services.errors import PermissionDenied, ServiceError

CONNECT = "crm.add_crmconnection"
KINDS = {CrmConnection.Kind.HUBSPOT}
ACCESS = ("auth", "scope")


@dataclass
class Check:
    """What a check found, for the command and the admin to say."""

    ok: bool
    message: str
    scopes: list = field(default_factory=list)
    owners: int = 0  # HubSpot's active owners
    linked: list = field(default_factory=list)  # (agent, owner email)
    unlinked: list = field(default_factory=list)  # agents no owner has the email of
    stages: list = field(default_factory=list)  # the account's lifecyclestage options
    unknown_mappings: list = field(default_factory=list)  # (stage label, value) the account lacks


_adapters = {}  # (connection, token, base URL, limit) -> adapter: its pacer outlives one run


def adapter_for(connection):
    """The adapter for the connection's kind, pointed at its base URL and paced at its limit.

    One per process and connection setting: the pacer counts the requests of the last ten seconds,
    and a fresh one for every run would let two runs in a row spend the window twice."""
    from integrations.crm.hubspot import HubSpotAdapter  # the client is loaded by who talks to HubSpot
    from integrations.crm.pacing import Pacer

    key = (connection.pk, str(connection.token), connection.base_url, connection.requests_per_10s)
    if key not in _adapters:
        for old in [k for k in _adapters if k[0] == connection.pk]:
            del _adapters[old]  # the token or limit changed: that adapter is done with
        _adapters[key] = HubSpotAdapter(str(connection.token), base_url=connection.base_url,
                                        pacer=Pacer(connection.requests_per_10s))
    _adapters[key].zone = daily_cap.zone_of(connection)
    return _adapters[key]


SETTABLE = {"requests_per_10s", "daily_cap", "conflict_policy", "is_active"}


def crm_connect(*, token, actor, kind=CrmConnection.Kind.HUBSPOT, name="HubSpot", base_url=None, settings=None,
                adapter=None, check=True, push=True):
    """Create the connection named `name` or update its token (and base URL when given; `settings`:
    the limit, daily cap, conflict policy, active), install the default stage mappings it lacks, queue
    every owned customer and their orders for it (the first push; push=False: the account has them
    already, a new token only), and check it (check=False: leave that to the first delivery or pull).
    Returns (connection, Check or None when not checked)."""
    if not actor.has_perm(CONNECT):
        raise PermissionDenied("Only operations connect the CRM.")
    if kind not in KINDS:
        raise ServiceError(f"Unknown CRM {kind!r}: the console connects to {', '.join(sorted(KINDS))}.")
    token, name = (token or "").strip(), (name or "").strip()
    if not token:
        raise ServiceError("A CRM connection needs its access token.")
    if not name:
        raise ServiceError("A CRM connection needs a name.")
    with transaction.atomic():
        connection = CrmConnection.objects.select_for_update().filter(name=name).first() or CrmConnection(
            name=name, kind=kind)
        connection.token, connection.is_active = token, True
        connection.base_url = (base_url or connection.base_url or HUBSPOT_API).rstrip("/")
        if not check:  # what an earlier check found was about the token or address replaced now
            connection.checked_at, connection.check_ok, connection.check_message = None, None, ""
        for setting, value in (settings or {}).items():
            if setting not in SETTABLE:
                raise ServiceError(f"{setting!r} is not a setting of a CRM connection.")
            if value is not None:
                setattr(connection, setting, value)
        connection.save()
        stage_mappings_install(connection)
        deals.deal_stage_mappings_install(connection)
        if push:
            outbox_first_push(connection=connection)  # with the connection, or not at all
    if not check:
        return connection, None
    return connection, crm_connection_check(connection=connection, actor=actor, adapter=adapter)


def stage_mappings_install(connection):
    """The default mapping of every console stage the connection has none for (HubSpot's defaults),
    each with its first history record."""
    have = set(connection.stage_mappings.values_list("stage", flat=True))
    missing = [CrmStageMapping(connection=connection, stage=stage, hubspot_stage=DEFAULT_STAGE_MAP.get(stage, ""))
               for stage in Stage.values if stage not in have]
    if missing:
        bulk_create_with_history(missing, CrmStageMapping, default_change_reason="HubSpot's default stages")


def crm_connection_check(*, connection, actor, adapter=None):
    """Ask the CRM whether the token works and has its scopes, link agents to owners by email, read
    the lifecycle stages; record the outcome on the connection. Returns a Check."""
    if not actor.has_perm(OPERATE):
        raise PermissionDenied("Only operations check the CRM connection.")
    adapter = adapter or adapter_for(connection)
    now = timezone.now()
    try:
        scopes = sorted(adapter.check() or [])
        linked, unlinked, owners = owners_link(connection=connection, adapter=adapter)
        stages = list(adapter.lifecycle_stages())
        created_key = adapter.deal_key_ensure()
        zone = daily_cap.zone_named(adapter.account_time_zone())
    except CrmError as error:
        # Refused: the token or the account is wrong (False). Not reached: nothing is known of it (None).
        verdict = False if error.kind in (*ACCESS, "bad_request") else None
        CrmConnection.objects.filter(pk=connection.pk).update(checked_at=now, check_ok=verdict,
                                                              check_message=error.message)
        connection.checked_at, connection.check_ok, connection.check_message = now, verdict, error.message
        if verdict is False:
            failures.access_failure_raise(connection=connection, error=error, actor=actor)
        return Check(ok=False, message=error.message)
    options = [{"value": s.value, "label": s.label, "order": s.order} for s in stages]
    values = {s.value for s in stages}
    unknown = [(m.get_stage_display(), m.hubspot_stage) for m in connection.stage_mappings.all()
               if m.hubspot_stage and m.hubspot_stage not in values]
    message = (f"HubSpot accepts the token: {owners} owners ({len(linked)} of {len(linked) + len(unlinked)} agents "
               f"linked by email), {len(stages)} lifecycle stages"
               f"{'; the deal property aftercare_order_key was created' if created_key else ''}.")
    with transaction.atomic():
        CrmConnection.objects.filter(pk=connection.pk).update(checked_at=now, check_ok=True, check_message=message,
                                                              scopes=scopes, stage_options=options, time_zone=zone)
        connection.checked_at, connection.check_ok, connection.check_message = now, True, message
        connection.scopes, connection.stage_options, connection.time_zone = scopes, options, zone
        adapter.zone = daily_cap.zone_of(connection)
        failures.access_failure_resolve(connection=connection, actor=actor, reason="The connection's check passed.")
        outbox_retime(connection=connection, causes=[*ACCESS, "no_owner"])
    return Check(ok=True, message=message, scopes=scopes, owners=owners, linked=linked, unlinked=unlinked,
                 stages=stages, unknown_mappings=unknown)


def connection_checked(*, connection, actor, adapter=None):
    """"" when the connection may be used; else the sentence saying why not. A connection never
    checked, or whose last check could not reach the CRM, is checked now (a delivery's or a pull's
    first step): a passing check links the owners and reads the stages before anything is sent."""
    if connection.check_ok is not None:
        return ""
    check = crm_connection_check(connection=connection, actor=actor, adapter=adapter)
    return "" if check.ok else check.message


def owners_link(*, connection, adapter):
    """Link every active agent to the HubSpot owner with their email (archived owners take no
    customers); an agent without one gets an empty link, which the admin lists. Returns (linked
    [(agent, owner email)], unlinked [agent], how many active owners HubSpot has)."""
    owners = [o for o in adapter.owners() if not o.archived]
    by_email = {o.email.strip().lower(): o for o in owners if o.email}
    now, links, linked, unlinked = timezone.now(), [], [], []
    for agent in Agent.objects.select_related("user").filter(user__is_active=True).order_by("user__username"):
        owner = by_email.get((agent.user.email or "").strip().lower())
        links.append(CrmOwnerLink(
            connection=connection, agent=agent, owner_id=str(owner.id) if owner else "",
            owner_email=owner.email if owner else "", checked_at=now,
            owner_name=f"{owner.first_name} {owner.last_name}".strip() if owner else ""))
        if owner:
            linked.append((agent, owner.email))
        else:
            unlinked.append(agent)
    CrmOwnerLink.objects.bulk_create(links, update_conflicts=True, unique_fields=["connection", "agent"],
                                     update_fields=["owner_id", "owner_email", "owner_name", "checked_at"])
    return linked, unlinked, len(owners)
