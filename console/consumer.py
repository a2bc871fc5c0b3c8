"""The worker's consumer (settings.CELERY_WORKER_CONSUMER): Celery's, surviving a broker restart.

When the connection to Redis is lost, Celery 5.7.0 collects it (which releases the transport: the
transport's client becomes None) and then closes it. A kombu 5.7.0 Redis channel that still holds
work then builds a new client from that released transport and fails with AttributeError: closing the
channel restores the unacknowledged messages of tasks in flight (acks_late) through it, and such a
task acknowledges through it when it ends. Neither is a connection error, so Celery does not expect
it: "Unrecoverable error", and the worker exited instead of reconnecting.

Loading this consumer makes a channel whose transport was released fail as a lost connection does
(redis' ConnectionError), which Celery handles: the close goes on and the consumer reconnects, and a
late acknowledgement is logged as not sent. No message is lost by it: a Redis that kept its data
redelivers an unacknowledged message after its visibility timeout, one that lost it lost it already.
"""

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.transport import redis as redis_transport

_connparams = redis_transport.Channel._connparams


def _released_fails_as_lost(channel, asynchronous=False):
    if channel.connection.client is None:
        raise redis_transport.redis.exceptions.ConnectionError("the channel's broker connection was released")
    return _connparams(channel, asynchronous=asynchronous)


redis_transport.Channel._connparams = _released_fails_as_lost


class Consumer(CeleryConsumer):
    """Celery's consumer; importing it guards the Redis channels (above)."""
