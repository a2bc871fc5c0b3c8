"""HubSpot's API limits per private-app token: a rolling ten-second window, the search endpoints'
per-second limit, and a daily cap.

Figures from HubSpot's usage guidelines for private apps: 100 requests per 10 s on Free/Starter,
190 on Professional/Enterprise; 250,000 / 625,000 a day; search 4 requests per second. A refused
request is not counted (it never reached the API). The 429 body is HubSpot's: errorType RATE_LIMIT
and the policyName of the limit hit; `Retry-After` is sent only when configured (HubSpot's
ten-secondly 429s usually carry none, so a client must know the window itself).
"""

import math
import threading
import time
from collections import defaultdict, deque

from .common import correlation_id

TIERS = {"starter": (100, 250_000), "professional": (190, 625_000)}
WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 4
_MESSAGES = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
             "SECONDLY": "You have reached your secondly limit.", "DAILY": "You have reached your daily limit."}


class RateLimits:
    """`retry_after`: None (no header), "window" (seconds until a slot frees, rounded up) or a
    number of seconds to always send. `monotonic` is the clock of the windows (see ManualClock)."""

    def __init__(self, tier="professional", *, per_window=None, window_seconds=WINDOW_SECONDS,
                 search_per_second=SEARCH_PER_SECOND, daily=None, retry_after=None, monotonic=time.monotonic,
                 today=None):
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {sorted(TIERS)}")
        self.tier = tier
        self.per_window = per_window or TIERS[tier][0]
        self.daily = daily or TIERS[tier][1]
        self.window_seconds, self.search_per_second = float(window_seconds), search_per_second
        self.retry_after, self.monotonic = retry_after, monotonic
        self.today = today or (lambda: time.strftime("%Y-%m-%d", time.gmtime()))
        self.enabled = True
        self._lock = threading.Lock()
        self._sent = defaultdict(deque)
        self._searches = defaultdict(deque)
        self._days = defaultdict(int)
        self.refused = defaultdict(int)  # policyName -> 429s answered

    def configure(self, spec):
        with self._lock:
            if "tier" in spec:
                self.tier = spec["tier"]
                self.per_window, self.daily = TIERS[self.tier]
            for name in ("per_window", "daily", "search_per_second"):
                if spec.get(name) is not None:
                    setattr(self, name, int(spec[name]))
            if spec.get("window_seconds") is not None:
                self.window_seconds = float(spec["window_seconds"])
            if "retry_after" in spec:
                self.retry_after = spec["retry_after"]
            if "enabled" in spec:
                self.enabled = bool(spec["enabled"])
            if spec.get("reset"):
                self._sent.clear(), self._searches.clear(), self._days.clear(), self.refused.clear()

    def admit(self, token, search=False):
        """None when the request may go on, else (status, body, headers) of the 429."""
        if not self.enabled:
            return None
        with self._lock:
            now = self.monotonic()
            sent = self._sent[token]
            while sent and sent[0] <= now - self.window_seconds:
                sent.popleft()
            searches = self._searches[token]
            while searches and searches[0] <= now - 1.0:
                searches.popleft()
            day = (token, self.today())
            if self._days[day] >= self.daily:
                return self._refuse("DAILY", None)
            if len(sent) >= self.per_window:
                return self._refuse("TEN_SECONDLY_ROLLING", sent[0] + self.window_seconds - now)
            if search and self.search_per_second and len(searches) >= self.search_per_second:
                return self._refuse("SECONDLY", searches[0] + 1.0 - now)
            sent.append(now)
            if search:
                searches.append(now)
            self._days[day] += 1
            return None

    def headers(self, token):
        with self._lock:
            remaining = max(0, self.per_window - len(self._sent[token]))
            used = self._days[(token, self.today())]
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_seconds * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.per_window), "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Daily": str(self.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - used))}

    def _refuse(self, policy, wait):
        self.refused[policy] += 1
        headers = {}
        if self.retry_after == "window" and wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        elif self.retry_after not in (None, "window"):
            headers["Retry-After"] = str(self.retry_after)
        body = {"status": "error", "message": _MESSAGES[policy], "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(), "policyName": policy}
        return 429, body, headers

    def snapshot(self):
        with self._lock:
            return {"tier": self.tier, "per_window": self.per_window, "window_seconds": self.window_seconds,
                    "search_per_second": self.search_per_second, "daily": self.daily,
                    "retry_after": self.retry_after, "enabled": self.enabled, "refused": dict(self.refused),
                    "refused_total": sum(self.refused.values())}
