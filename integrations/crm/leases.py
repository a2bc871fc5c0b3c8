"""One deliverer per CRM connection: a lease on the connection's row, taken and renewed by conditional
UPDATEs (atomic alike on PostgreSQL and SQLite), never a lock held across HTTP calls: on the embedded
SQLite a transaction left open while HubSpot answers would stop every other writer."""

import uuid
from datetime import timedelta

from django.db.models import Q

from integrations.crm.models import CrmConnection

# Longer than one batch can take (the adapter's retries and 429 waits included, under a minute),
# renewed before every batch. A worker that died holding it blocks its connection this long at most.
LEASE = timedelta(minutes=5)


def lease_take(connection, now):
    """A token naming this run's lease, or None while another run holds a live one."""
    token = uuid.uuid4().hex
    free = Q(delivering_until__isnull=True) | Q(delivering_until__lt=now)
    taken = CrmConnection.objects.filter(free, pk=connection.pk, is_active=True).update(
        delivering_until=now + LEASE, delivering_by=token)
    return token if taken else None


def lease_renew(connection, token, now):
    """False when the lease was lost (it ran out and another run took it): stop delivering."""
    return bool(CrmConnection.objects.filter(pk=connection.pk, delivering_by=token).update(
        delivering_until=now + LEASE))


def lease_release(connection, token):
    CrmConnection.objects.filter(pk=connection.pk, delivering_by=token).update(delivering_until=None,
                                                                               delivering_by="")
