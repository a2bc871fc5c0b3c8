"""Waking a store's drain once its delivery is stored, without a message per delivery.

A busy shop posts hundreds of deliveries a second; one drain (draining.store_drain) processes all
that wait, so a message per delivery would mostly wake drains with nothing left to do, and
publishing it was the most expensive part of accepting a delivery. Each web process therefore
sends at most two wake-ups per store per interval: one at once (leading edge) and, for deliveries
stored during the interval, one scheduled for its end (trailing edge). Every delivery is followed
by a drain that starts after it was committed, and the beat's sweep (drain_waiting_stores) wakes
any store whose deliveries still wait, should a wake-up be lost with a broker or a worker.
"""

import threading
import time

from django.conf import settings

from integrations.woocommerce.tasks import drain_store


class Wakeups:
    """Leading- and trailing-edge throttle per store; `send(store_id, delay_seconds)` wakes one."""

    def __init__(self, send, *, interval=None, clock=time.monotonic):
        self._send, self._interval, self._clock = send, interval, clock
        self._next = {}  # store id -> when the next wake-up may go at once
        self._trailing = {}  # store id -> the interval end a wake-up is already scheduled for
        self._lock = threading.Lock()

    @property
    def interval(self):
        return settings.AFTERCARE_DRAIN_WAKE_SECONDS if self._interval is None else self._interval

    def wake(self, store_id):
        """Wake the store's drain now, at the end of the interval, or not at all (one is due
        then); returns the delay sent, or None."""
        with self._lock:
            now, allowed = self._clock(), self._next.get(store_id, float("-inf"))
            if now >= allowed:
                self._next[store_id], delay = now + self.interval, 0.0
            elif self._trailing.get(store_id) != allowed:
                self._trailing[store_id], delay = allowed, allowed - now
            else:
                return None
        self._send(store_id, delay)
        return delay


def _send(store_id, delay):
    drain_store.apply_async(args=[store_id], countdown=delay or None)


wakeups = Wakeups(_send)
