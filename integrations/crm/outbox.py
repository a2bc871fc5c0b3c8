"""Writing the CRM's outbox: every change of a customer, in the transaction that makes it.

The lifecycle announces new customers, handoffs, stage moves and orders created or moved once per
batch (lifecycle/services/customer_changes.py); `outbox_write` turns a batch into one OutboundMessage
per active connection and change (a deal's names its order), in one INSERT, inside the announcing transaction: a change rolled back
takes its messages with it, and a committed one always has them. With no active connection the
hook costs one query (the active connections' ids, from a table of a row or two) and writes nothing.

After the commit the connection's deliverer is woken through a throttle (at most one wake-up at
once and one at the end of KICK_SECONDS per process and connection), not once per message: a
delivery run takes every message waiting. The beat's run every minute catches a lost wake-up.

Delivering is idempotent: a message is marked delivered only while it is pending, a delivered one is
never read again, and HubSpot's upsert by email applied twice leaves the contact as once.
"""

from functools import partial

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from integrations.crm.models import CrmConnection, OutboundMessage
from lifecycle.db import rows
from lifecycle.db.sql import col, table
from lifecycle.models import Customer, Order, OrderState, Ownership
from lifecycle.services.customer_changes import customers_changed_register
from lifecycle.services.errors import PermissionDenied

M = OutboundMessage.State
# Operating a connection (checking it, replaying its dead letters) is for who may change it.
OPERATE = "crm.change_crmconnection"
# Wake-ups per connection and process: changes of the next second ride on the run this one wakes.
KICK_SECONDS = 1.0


def active_connection_ids():
    return list(CrmConnection.objects.filter(is_active=True).order_by().values_list("pk", flat=True))


def outbox_write(changes):
    """Queue `changes` (CustomerChange) for every active connection, in the caller's transaction;
    returns the messages written."""
    connection_ids = active_connection_ids()
    if not connection_ids:
        return []
    now = timezone.now()
    messages = [OutboundMessage(connection_id=connection_id, customer_id=change.customer_id, field=change.field,
                                order_id=change.order_id, value=change.value,
                                idempotency_key=f"{connection_id}:{change.key}", next_attempt_at=now, created_at=now)
                for connection_id in connection_ids for change in changes]
    rows.insert_many(OutboundMessage, messages)
    for connection_id in connection_ids:
        transaction.on_commit(partial(kick, connection_id))
    return messages


customers_changed_register(outbox_write)


# --- the first push -------------------------------------------------------------------------------
F = OutboundMessage.Field
# Contacts first (a customer's three fields side by side, so one round carries them), then deals: a
# deal is linked to its contact, which must be there. Orders trashed in the shop are not pushed.
FIRST_CONTACTS = """
INSERT INTO {outbox} ({connection}, {customer}, {order}, {field}, {value}, {key}, {state}, {attempts},
                      {next_at}, {last_error}, {error_kind}, {created})
SELECT %(connection)s, c.{id}, NULL, f.name,
       CASE f.name WHEN '{f_contact}' THEN {json}('name', c.{name}, 'phone', c.{phone})
                   WHEN '{f_owner}' THEN {json}('team', o.{team}, 'agent', o.{agent})
                   ELSE {json}('stage', c.{stage}) END,
       %(prefix)s || f.name || ':' || c.{id}, '{pending}', 0, %(now)s, '', '', %(now)s
  FROM {customers} c JOIN {owners} o ON o.{owner_customer} = c.{id}
 CROSS JOIN (SELECT '{f_contact}' AS name, 1 AS n UNION ALL SELECT '{f_stage}', 2 UNION ALL SELECT '{f_owner}', 3) f
 ORDER BY c.{id}, f.n"""
FIRST_DEALS = """
INSERT INTO {outbox} ({connection}, {customer}, {order}, {field}, {value}, {key}, {state}, {attempts},
                      {next_at}, {last_error}, {error_kind}, {created})
SELECT %(connection)s, r.{order_customer}, r.{id}, '{f_deal}', {json}('order', r.{id}, 'state', r.{order_state}),
       %(prefix)s || '{f_deal}:' || r.{id}, '{pending}', 0, %(now)s, '', '', %(now)s
  FROM {orders} r JOIN {owners} o ON o.{owner_customer} = r.{order_customer}
 WHERE r.{order_state} <> '{deleted}'
 ORDER BY r.{id}"""


def _first_sql(template):
    m = OutboundMessage
    names = {name: col(m, name) for name in ("connection", "customer", "order", "field", "value")}
    names |= {"key": col(m, "idempotency_key"), "state": col(m, "state"), "attempts": col(m, "attempts"),
              "next_at": col(m, "next_attempt_at"), "last_error": col(m, "last_error"),
              "error_kind": col(m, "error_kind"), "created": col(m, "created_at"), "outbox": table(m),
              "customers": table(Customer), "owners": table(Ownership), "orders": table(Order),
              "id": col(Customer, "id"), "name": col(Customer, "display_name"), "phone": col(Customer, "phone"),
              "stage": col(Customer, "stage"), "team": col(Ownership, "team"), "agent": col(Ownership, "agent"),
              "owner_customer": col(Ownership, "customer"), "order_customer": col(Order, "customer"),
              "order_state": col(Order, "state"), "f_contact": F.CONTACT, "f_owner": F.OWNER, "f_stage": F.STAGE,
              "f_deal": F.DEAL, "pending": M.PENDING, "deleted": OrderState.DELETED,
              "json": "jsonb_build_object" if db.vendor == "postgresql" else "json_object"}
    return template.format(**names)


def outbox_first_push(*, connection):
    """Queue every customer that has an owner (its name and phone, owner and stage) and their
    orders as deals, for a connection just made: set-based, one INSERT … SELECT each, however many
    customers. Returns how many messages. Keyed by the moment, so making the connection again (a
    new token, a CRM account emptied) pushes everything again; newest wins keeps any later change."""
    now = timezone.now()
    params = {"connection": connection.pk, "now": now, "prefix": f"{connection.pk}:first:{now:%Y%m%dT%H%M%S.%f}:"}
    count = 0
    with db.cursor() as cursor:
        for template in (FIRST_CONTACTS, FIRST_DEALS):
            cursor.execute(_first_sql(template), params)
            count += cursor.rowcount
    if count:
        transaction.on_commit(partial(kick, connection.pk))
    return count


def _send(connection_id, delay):
    from integrations.crm.tasks import deliver_crm_outbox  # the task module imports the deliverer

    deliver_crm_outbox.apply_async(args=[connection_id], countdown=delay or None)


def _throttle():
    from integrations.woocommerce.wakeups import Wakeups  # the shops' throttle: the same need

    return Wakeups(_send, interval=KICK_SECONDS)


_wakeups = None


def kick(connection_id):
    """Wake the connection's deliverer, throttled; safe to call for every batch."""
    global _wakeups
    if _wakeups is None:
        _wakeups = _throttle()
    return _wakeups.wake(connection_id)


def kick_reset():
    """Forget the throttle's state (tests run wake-ups inline, each test from a clean slate)."""
    global _wakeups
    _wakeups = None


def outbound_messages_replay(*, messages, actor):
    """Put dead letters back in line: pending, due now, their attempts counted from zero. Returns
    how many. Replaying cannot undo a newer change: a message with a newer one of the same customer
    and field is superseded at delivery instead of sent. Messages that are not dead are left alone."""
    if not actor.has_perm(OPERATE):
        raise PermissionDenied("Only operations replay the CRM's dead letters.")
    ids = [m.pk if isinstance(m, OutboundMessage) else m for m in messages]
    with transaction.atomic():
        dead = OutboundMessage.objects.filter(pk__in=ids, state=M.DEAD)
        connection_ids = set(dead.values_list("connection_id", flat=True).order_by().distinct())
        count = dead.update(state=M.PENDING, attempts=0, next_attempt_at=timezone.now())
        for connection_id in connection_ids:
            transaction.on_commit(partial(kick, connection_id))
    return count


def outbox_retime(*, connection, causes):
    """Make the connection's pending messages parked for `causes` (a bad token, an agent without an
    owner) due now: what held them was fixed. Returns how many."""
    count = OutboundMessage.objects.filter(connection=connection, state=M.PENDING, error_kind__in=causes).update(
        next_attempt_at=timezone.now())
    if count:
        transaction.on_commit(partial(kick, connection.pk))
    return count
