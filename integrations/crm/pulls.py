"""Pulling what changed in the CRM: contacts, deals and activities modified since each type's cursor.

Each object type has its cursor (CrmCursor: the (modified_at, last id) of the last record done).
The adapter scans from it in (stamp, id) order, page by page (windows.py: equal stamps neither loop
nor skip). Each page is applied set-based, and the cursor moves in the same transaction as what the
page changed: a crash loses nothing and does nothing twice, as the next run redoes at most the page
that was not committed, and every page's effect is idempotent anyway (a contact's state, an
observation's stale rule, an activity's stored key).

One run per connection and type at a time: a run takes the type's lease (one conditional UPDATE)
and saves its cursor only while it holds it; a run that lost it (it outlived LEASE) rolls the page
back and stops. No transaction is open while the CRM is asked: on SQLite it would stop every writer.

A refused token opens the connection's access sync_failure (failures.py); any other failure that
lasts FAILING_AFTER opens one `sync_failure` for the connection's pulls, resolved by the next pull
that finishes.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.crm import activities, daily_cap, deals, failures, inbound
from integrations.crm.base import CrmError
from integrations.crm.conflicts import conflicts_settle
from integrations.crm.connections import adapter_for, connection_checked
from integrations.crm.models import CrmCursor
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise, exceptions_resolve

T = CrmCursor.ObjectType
TYPES = (T.CONTACTS, T.DEALS, T.ACTIVITIES)  # contacts first: activities find their customers through them
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)  # a first pull reads everything the CRM has
# Longer than a page can take (a search, an associations read, its writes); renewed with every page.
LEASE = timedelta(minutes=10)
# A CRM that fails for a few beats (a 5xx, an outage) is HubSpot having a moment; for longer, a person
# should know that the console no longer hears the CRM.
FAILING_AFTER = timedelta(minutes=15)


class LeaseLost(Exception):
    """Another run took the type's lease: this page rolls back; that run goes on from the cursor."""


class CapReached(Exception):
    """HubSpot's daily request cap is used (daily_cap.py): the pull stops after the page it saved."""


@dataclass
class Pulled:
    """What a run did, per type: records read, and what they changed."""

    records: dict = field(default_factory=dict)
    matched: int = 0  # contacts whose customer the console knows
    conflicts: int = 0
    handoffs: int = 0
    moves: int = 0
    echoes: int = 0  # contacts' owners and stages, and deals' stages, the console sent itself
    deals_observed: int = 0
    activities_added: int = 0
    busy: list = field(default_factory=list)  # types another run holds
    error: str = ""


def pull_actor(connection):
    """Who the CRM's changes are by on timelines and handoffs: the CRM, by its connection's name."""
    return Actor.task(f"{connection.name} (CRM pull)")


def crm_pull(*, connection, actor, adapter=None, until=None, types=TYPES):
    """Pull and apply what changed in the CRM since each type's cursor. `until` bounds the scan
    (default: the adapter's, a little before now, for the search index's lag). Returns Pulled."""
    adapter = adapter or adapter_for(connection)
    unusable = connection_checked(connection=connection, actor=actor, adapter=adapter)
    if unusable:  # never checked, and the check failed now: it is recorded; the next pull tries again
        return Pulled(error=unusable)
    deals.deal_stage_mappings_install(connection)
    report, usage = Pulled(), daily_cap.Usage(connection, adapter, share=1.0)
    for object_type in types:
        report.error = usage.spend(timezone.now())
        if report.error:
            break
        cursor, _ = CrmCursor.objects.get_or_create(connection=connection, object_type=object_type)
        if object_type == T.ACTIVITIES and T.CONTACTS in report.busy:
            report.busy.append(object_type)  # its contacts' customers are being matched by that run
            continue
        token = _lease_take(cursor)
        if token is None:
            report.busy.append(object_type)
            continue
        try:
            _pull(connection, adapter, cursor, token, actor, until, report, usage)
        except CapReached as capped:
            report.error = str(capped)
            break
        except CrmError as error:
            report.error = error.message
            _failed(connection, cursor, error, actor)
            break  # the next types would fare alike
        except LeaseLost:
            report.busy.append(object_type)
        finally:
            CrmCursor.objects.filter(pk=cursor.pk, pulling_by=token).update(pulling_until=None, pulling_by="")
    usage.spend(timezone.now(), final=True)  # the last requests count too
    if not report.error:
        _succeeded(connection, actor)
    conflicts_settle(connection=connection, actor=actor)
    return report


def _pull(connection, adapter, cursor, token, actor, until, report, usage):
    since, after = cursor.modified_at or BEGINNING, cursor.last_id or None
    if cursor.object_type == T.ACTIVITIES:
        pages = adapter.activities(since, after, until=until)
    else:
        properties = inbound.PROPERTIES if cursor.object_type == T.CONTACTS else deals.PROPERTIES
        pages = adapter.changed(cursor.object_type, since, after, properties=properties, until=until)
    CrmCursor.objects.filter(pk=cursor.pk).update(last_run_at=timezone.now())
    for page in pages:
        if not page:
            continue
        with transaction.atomic():
            _apply(connection, cursor.object_type, page, actor, report)
            last = page[-1]
            saved = CrmCursor.objects.filter(pk=cursor.pk, pulling_by=token).update(
                modified_at=last.modified_at, last_id=last.cursor if cursor.object_type == T.ACTIVITIES else last.id,
                records=F("records") + len(page), pulling_until=timezone.now() + LEASE)
            if not saved:
                raise LeaseLost()
        report.records[cursor.object_type] = report.records.get(cursor.object_type, 0) + len(page)
        capped = usage.spend(timezone.now())
        if capped:
            raise CapReached(capped)
    CrmCursor.objects.filter(pk=cursor.pk).update(last_success_at=timezone.now(), last_error="")


def _apply(connection, object_type, page, actor, report):
    """One page, set-based, through the same functions a webhook's delivery goes through."""
    if object_type == T.CONTACTS:
        applied = inbound.contacts_apply(connection=connection, facts=[inbound.fact_from_changed(c) for c in page],
                                         actor=actor)
        report.matched += applied.matched
        if applied.claims is not None:
            claims = applied.claims
            report.conflicts += len(claims.conflicts)
            report.handoffs += len(claims.handoffs)
            report.moves += len(claims.moves)
            report.echoes += claims.echoes
    elif object_type == T.DEALS:
        applied = deals.deals_apply(connection=connection, facts=[deal_fact(c) for c in page], actor=actor)
        report.deals_observed += applied["observed"]
        report.echoes += applied["echoes"]
    else:
        report.activities_added += activities.activities_import(connection=connection, activities=page, actor=actor)


def deal_fact(changed):
    """A pulled deal (base.Changed) as deals.DealFact."""
    props = changed.properties
    created = props.get("createdate")
    return deals.DealFact(
        deal_id=str(changed.id), modified_at=changed.modified_at, dealstage=props.get(deals.STAGE_PROPERTY) or None,
        key=props.get(deals.KEY_PROPERTY), name=props.get("dealname"), amount=props.get("amount"),
        currency=props.get("deal_currency_code"),
        created_at=datetime.fromisoformat(created) if created else None)


# --- the lease ----------------------------------------------------------------------------------
def _lease_take(cursor):
    token, now = uuid.uuid4().hex, timezone.now()
    free = Q(pulling_until__isnull=True) | Q(pulling_until__lt=now)
    taken = CrmCursor.objects.filter(free, pk=cursor.pk).update(pulling_until=now + LEASE, pulling_by=token)
    return token if taken else None


# --- failures -----------------------------------------------------------------------------------
def pulls_subject(connection):
    return f"crm:{connection.pk}/pulls"


def _failed(connection, cursor, error, actor):
    CrmCursor.objects.filter(pk=cursor.pk).update(last_error=error.message)
    if error.kind in ("auth", "scope"):
        failures.access_failure_raise(connection=connection, error=error, actor=actor)
        return
    cursor.refresh_from_db(fields=["last_success_at"])
    since = cursor.last_success_at or connection.created_at
    if timezone.now() - since >= FAILING_AFTER:
        exception_raise(kind=ExceptionKind.SYNC_FAILURE, subject_key=pulls_subject(connection), actor=actor,
                        summary=f"{connection.name}: the console has not heard from the CRM since "
                                f"{since:%Y-%m-%d %H:%M} UTC: {error.message}",
                        evidence={"connection": connection.name, "connection_id": connection.pk, "kind": error.kind,
                                  "error": error.message, "object_type": cursor.object_type,
                                  "last_success_at": since.isoformat()})


def _succeeded(connection, actor):
    failures.access_failure_resolve(connection=connection, actor=actor, reason="HubSpot answers the pulls again.")
    exceptions_resolve(kind=ExceptionKind.SYNC_FAILURE,
                       reasons={pulls_subject(connection): "A pull from the CRM finished again."}, actor=actor)
