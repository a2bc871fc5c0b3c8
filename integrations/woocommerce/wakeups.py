"""Waking a store's drain once its delivery is committed, with at most one drain queued per store.

A busy shop posts hundreds of deliveries a second and one drain (draining.store_drain) processes
all that wait, so a message per delivery would fill the queue with drains that find nothing, ahead
of the other tasks. The store's drain is therefore marked pending (a key in the broker's Redis,
shared by every web process and worker) and a drain is queued only by the wake-up that set the mark.
The drain clears the mark once it holds the store's drain lock, before it reads what waits: a
delivery committed before that is read by it, and one committed after finds the mark cleared and
queues the next drain, which waits for the lock meanwhile. So a store has at most one drain queued or
waiting, besides the one running, however many processes receive its deliveries. The mark expires
after PENDING_SECONDS, should its message be lost (a restarted Redis loses both; a killed worker's
reserved messages come back only after the broker's visibility timeout); the beat's sweep
(drain_waiting_stores) wakes any store whose deliveries still wait.

Without Redis (make run's embedded broker) or with tasks run inline, every wake-up queues a drain.
The per-process throttle that woke drains before (Wakeups) stays for the CRM's outbox.
"""

import logging
import threading
import time
from functools import cache

from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Longer than a drain waits in its queue when the workers keep up (past it, another may be queued, which
# waits for the store's lock and finds what is left); short, since it is also how long a lost drain (its
# worker killed with it reserved) holds the store's deliveries back: the drill's month (20,000 customers,
# a worker killed) had 801 deliveries over a second late in the minute of the kill with 5 s.
PENDING_SECONDS = 2


@cache
def _redis(url):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _marks():
    """The broker's Redis, or None when the marks cannot be shared."""
    from console.celery import app

    url = settings.CELERY_BROKER_URL
    if app.conf.task_always_eager or not url.startswith(("redis://", "rediss://")):
        return None
    return _redis(url)


def _key(store_id):
    # The database's name too: test databases (and their store ids) share one Redis.
    return f"aftercare:drain-pending:{connection.settings_dict['NAME']}:{store_id}"


class Wakeups:
    """Leading- and trailing-edge throttle per key, per process; `send(key, delay_seconds)` wakes one.
    The CRM's outbox wakes its deliverer with it (integrations/crm/outbox.py)."""

    def __init__(self, send, *, interval, clock=time.monotonic):
        self._send, self._interval, self._clock = send, interval, clock
        self._next = {}  # key -> when the next wake-up may go at once
        self._trailing = {}  # key -> the interval end a wake-up is already scheduled for
        self._lock = threading.Lock()

    def wake(self, key):
        """Wake now, at the end of the interval, or not at all (one is due then); returns the delay
        sent, or None."""
        with self._lock:
            now, allowed = self._clock(), self._next.get(key, float("-inf"))
            if now >= allowed:
                self._next[key], delay = now + self._interval, 0.0
            elif self._trailing.get(key) != allowed:
                self._trailing[key], delay = allowed, allowed - now
            else:
                return None
        self._send(key, delay)
        return delay


class PendingDrains:
    """The stores' pending marks (see the module): `wake` after a delivery commits, `started` by the drain."""

    def wake(self, store_id):
        """Queue the store's drain unless one is queued and has not started reading yet; returns
        whether one was queued."""
        marks = _marks()
        try:
            if marks is not None and not marks.set(_key(store_id), 1, nx=True, ex=PENDING_SECONDS):
                return False
        except RedisError:
            pass  # no mark to share: the drain is queued (or its publishing fails as the broker's)
        from integrations.woocommerce.tasks import drain_store  # the tasks import this module

        drain_store.apply_async(args=[store_id])
        return True

    def started(self, store_id):
        """The store's drain holds its lock and reads next: a delivery committed from now on queues
        the next one."""
        marks = _marks()
        try:
            if marks is not None:
                marks.delete(_key(store_id))
        except RedisError:
            log.warning("store %s's drain mark was not cleared (Redis unreachable): it expires by itself", store_id)


wakeups = PendingDrains()
