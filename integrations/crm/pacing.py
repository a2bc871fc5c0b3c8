"""Pacing a connection's requests under the CRM's limits, instead of hitting them.

HubSpot counts requests per private-app token in a rolling ten-second window (100 on Free/Starter,
190 on Professional/Enterprise) and search requests per second (4). The pacer keeps a log of when
it let requests go and makes a caller wait until a slot is free in every window that applies. It
reserves slots in the future under a lock, so concurrent callers queue in order, and sleeps outside it.

Scope: one process and one token. Two processes sending with the same token each believe they have
the whole budget; the delivery design runs one worker per connection (the caller serializes a
connection's calls), and a 429 that still gets through is waited out with `hold()`.

Clock and sleep are injectable: give a test's manual clock to both the pacer and the sandbox and a
run of hundreds of paced requests costs no real time.
"""

import math
import threading
import time
from collections import deque

# Stay under the limit by this share: the server's window and ours never start at the same
# instant, and requests spend time on the wire.
HEADROOM = 0.9
WINDOW_SECONDS = 10.0
TIER_LIMITS = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
SEARCH_PER_SECOND = 4
# The search window is widened by the same headroom (4 per 1.11 s): a per-second limit leaves no
# room for jitter otherwise.
SEARCH_WINDOW_SECONDS = 1.0 / HEADROOM
BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0  # seconds: 0.5, 1, 2, 4... at most 30


def backoff(attempt, base=BACKOFF_BASE, cap=BACKOFF_CAP) -> float:
    """Seconds to wait before retry number `attempt` (0-based). No jitter: one serialized caller
    per connection has nobody to fall out of step with."""
    return min(cap, base * (2 ** attempt))


class SlidingWindow:
    """At most `limit` events in any `window` seconds, spaced at least window/limit apart.

    The spacing matters: a window's worth sent in one burst meets the server's window skewed by
    the time each request spends on the wire and in the server's queue, and the tail of one burst
    plus the head of the next can count as more than the limit there. Evenly spaced requests lose
    no throughput for a caller that sends one at a time.
    """

    def __init__(self, limit, window, clock=time.monotonic):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.window, self.clock = int(limit), float(window), clock
        self.spacing = self.window / self.limit
        self._times = deque()

    def earliest(self, not_before=0.0) -> float:
        """The earliest time at or after `not_before` an event may happen (the caller holds the lock).
        Every condition is a lower bound, so the latest of several windows' answers suits them all."""
        now = self.clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        slot = max(now, not_before)
        if len(self._times) >= self.limit:
            slot = max(slot, self._times[-self.limit] + self.window)
        if self._times:
            slot = max(slot, self._times[-1] + self.spacing)  # first come, first served
        return slot

    def book(self, slot) -> None:
        self._times.append(slot)


class Pacer:
    """Waits before each request so that at most `limit` go out per window (and search requests
    within theirs). `hold(seconds)` stops everything for a while (a 429's window)."""

    def __init__(self, per_window=TIER_LIMITS["professional"], *, window=WINDOW_SECONDS,
                 search_per_second=SEARCH_PER_SECOND, headroom=HEADROOM, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self.limit = max(1, math.floor(per_window * headroom))
        self._all = SlidingWindow(self.limit, window, clock)
        self._search = SlidingWindow(search_per_second, SEARCH_WINDOW_SECONDS, clock) if search_per_second else None
        self._lock = threading.Lock()
        self._hold_until = 0.0
        self.waited = 0.0  # seconds spent waiting, for the figures

    @classmethod
    def for_tier(cls, tier="professional", **options):
        try:
            return cls(TIER_LIMITS[tier], **options)
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}; one of {sorted(TIER_LIMITS)}") from None

    def wait(self, search=False) -> float:
        """Block until this request may go; returns the seconds waited."""
        with self._lock:
            windows = [self._all] + ([self._search] if search and self._search else [])
            slot = self._hold_until
            for window in windows:
                slot = window.earliest(slot)
            for window in windows:
                window.book(slot)
            delay = slot - self.clock()
        if delay > 0:
            self.sleep(delay)
            self.waited += delay
            return delay
        return 0.0

    def hold(self, seconds) -> None:
        """Nothing goes out for `seconds` from now (the server refused one: its window decides)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self.clock() + max(0.0, float(seconds)))
