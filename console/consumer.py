"""The worker's consumer (settings.CELERY_WORKER_CONSUMER): Celery's, surviving a broker restart.

Celery 5.7.0 closes the lost connection after collect() has already released its transport. With a
task in flight (acks_late), kombu's Redis channel then restores its unacknowledged messages through a
client it can no longer build (its connection's client is None) and raises AttributeError, which
Celery's close does not expect: "Unrecoverable error", and the worker exits instead of reconnecting.
The connection is already dropped when that happens (the consumer holds none), so the error is logged
and the consumer goes on to reconnect, as Celery means it to. The in-flight messages are not lost by
this: a restarted broker that kept its data redelivers them after their visibility timeout, and one
that lost it lost them already.
"""

import logging

from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    def on_connection_error_after_connected(self, exc):
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            if self.connection is not None:
                raise
            log.warning("closing the lost broker connection failed (%r); reconnecting", error)
