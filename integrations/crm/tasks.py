"""CRM tasks, on their own queue ("crm", console/settings.py): thin, ids only; the work is in delivery.py."""

from celery import shared_task
from django.db import OperationalError

from integrations.crm.delivery import outbox_deliver
from integrations.crm.models import CrmConnection
from lifecycle.actors import Actor

# A run retries only on the database (a lock or a dropped connection): HubSpot's own failures are
# recorded on the messages, which wait their backoff for the next run.
MAX_RETRIES = 3


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=MAX_RETRIES, acks_late=True)
def deliver_crm_outbox(connection_id=None):
    """Deliver the due messages of one connection (a wake-up after a change) or of every active one
    (the beat, every minute: retries come due, lost wake-ups are caught). A connection another run
    is delivering is left to it; one with messages still due after this run's share gets a new run."""
    connections = CrmConnection.objects.filter(is_active=True)
    if connection_id is not None:
        connections = connections.filter(pk=connection_id)
    outcome = {}
    for connection in connections:
        report = outbox_deliver(connection=connection, actor=Actor.task("deliver_crm_outbox"))
        if report.more:
            deliver_crm_outbox.delay(connection.pk)
        outcome[connection.pk] = "busy" if report.busy else report.delivered
    return outcome


# Inbound (pulls, webhooks): integrations/crm/pulls.py and webhooks.py do the work.
@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=MAX_RETRIES, acks_late=True)
def pull_crm_changes(connection_id=None):
    """Every minute: each active connection's webhook deliveries that waited (a lost wake-up, a
    failure to retry), then its contacts, deals and activities changed since the cursors. A type
    another run is pulling is left to it. The CRM's own failures are recorded, not retried here."""
    from integrations.crm.pulls import crm_pull, pull_actor
    from integrations.crm.webhooks import webhooks_drain

    connections = CrmConnection.objects.filter(is_active=True)
    if connection_id is not None:
        connections = connections.filter(pk=connection_id)
    outcome = {}
    for connection in connections:
        webhooks_drain(connection=connection)
        report = crm_pull(connection=connection, actor=pull_actor(connection))
        outcome[connection.pk] = report.error or {str(k): n for k, n in report.records.items()}
    return outcome


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=MAX_RETRIES, acks_late=True)
def process_crm_webhook(event_id):
    """One stored HubSpot delivery, right after it was received; a rerun is a no-op."""
    from integrations.crm.webhooks import webhook_process

    return webhook_process(event_id=event_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=MAX_RETRIES, acks_late=True)
def prune_crm_outbox():
    """Every hour (the beat's "prune-crm-outbox", installed by migration crm 0005 and editable under
    Periodic tasks): delete the outbox's done messages past their retention (retention.py)."""
    from integrations.crm.retention import outbox_prune

    return outbox_prune()
