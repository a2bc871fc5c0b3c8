"""WooCommerce tasks: thin, ids only; the work is in processing.py and services.py."""

from celery import shared_task

from integrations.woocommerce.fields import PayloadError
from integrations.woocommerce.processing import inbound_event_fail, inbound_event_process

# Backoff doubles from 2 s: a database hiccup or a lock clears well within the five tries.
MAX_RETRIES = 5


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def process_inbound_event(self, event_id):
    try:
        return inbound_event_process(event_id=event_id)
    except PayloadError as error:
        # The payload itself is wrong: retrying cannot help, a person must look at it.
        inbound_event_fail(event_id=event_id, error=error, final=True)
        return "failed"
    except Exception as error:
        final = self.request.retries >= self.max_retries
        inbound_event_fail(event_id=event_id, error=error, final=final)
        if final:
            raise
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1))
