"""Owner rows as every handoff reads them: locked, with the previous owner's label.

The hottest read of every handoff, hand-written: Django's query compilation cost more than the
round trip. A row is locked (FOR UPDATE OF the owner row only) and carries the owner's label for
the timeline, as Agent.__str__ and Team.__str__ would write it.
"""

import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection

from lifecycle.db import rows
from lifecycle.db.sql import for_update, marks
from lifecycle.models import Agent, Customer, Handoff, Ownership, Team

OWNER_ROW = """
    SELECT o.id, o.team_id, o.agent_id, t.name,
           COALESCE(NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''), u.username), o.customer_id,
           {next_handoff_id}
    FROM {ownership} o
    JOIN {team} t ON t.id = o.team_id
    LEFT JOIN {agent} a ON a.id = o.agent_id
    LEFT JOIN {user} u ON u.id = a.user_id
"""


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


def _names(template):
    return template.format(ownership=Ownership._meta.db_table, team=Team._meta.db_table,
                           agent=Agent._meta.db_table, user=get_user_model()._meta.db_table,
                           customer=Customer._meta.db_table, next_handoff_id=rows.next_id_sql(Handoff))


@functools.cache
def _lock_sql(count):
    return for_update(_names(OWNER_ROW) + f" WHERE o.customer_id IN ({marks(count)}) ORDER BY o.customer_id", of="o")


@functools.cache
def _lock_customers_sql(count):
    return for_update(_names(f"SELECT id, {{next_handoff_id}} FROM {{customer}} WHERE id IN ({marks(count)}) ORDER BY id"))


@functools.cache
def _ids_sql(count):
    return (f"SELECT o.customer_id, o.id, o.team_id, o.agent_id FROM {_names('{ownership}')} o "
            f"WHERE o.customer_id IN ({marks(count)})")


def owner_ids(customer_ids):
    """{customer id: OwnerRow without names} for those that have an owner, read without locks: what a
    routing decision needs (the names are read, locked, when the handoff is written)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_ids_sql(len(ids)), ids)
        return {customer_id: OwnerRow(pk, team_id, agent_id, "", None)
                for customer_id, pk, team_id, agent_id in cursor.fetchall()}


def lock_owners(customer_ids):
    """({customer id: OwnerRow} for those that have an owner, {customer id: a reserved Handoff id}),
    rows locked in customer id order.

    A customer without an owner has no row to lock: its customer row is locked instead and the
    owners read again, so a first owner given concurrently is seen rather than duplicated. (Callers
    that hold the customer rows already pay one more cheap read for those.) Where ids can be
    reserved (rows.ALLOCATES_IDS), each customer's read reserves the id of the Handoff that may
    follow, so the handoff, the owner row and the event go to the database as one statement.
    """
    ids = sorted(set(customer_ids))
    found, reserved = {}, {}
    if not ids:
        return found, reserved
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(len(ids)), ids)
        for row in cursor.fetchall():
            found[row[5]], reserved[row[5]] = OwnerRow(*row[:5]), row[6]
        missing = [pk for pk in ids if pk not in found]
        if missing:
            cursor.execute(_lock_customers_sql(len(missing)), missing)
            locked = cursor.fetchall()
            if len(locked) != len(missing):
                raise Customer.DoesNotExist("A customer being handed over no longer exists.")
            reserved |= dict(locked)
            cursor.execute(_lock_sql(len(missing)), missing)
            for row in cursor.fetchall():
                found[row[5]], reserved[row[5]] = OwnerRow(*row[:5]), row[6]
    return found, reserved
