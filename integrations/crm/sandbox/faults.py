"""Fault injection for API requests: forced 5xx, latency, and a full outage for a while.

Settable from Python (`crm.faults.fail_next(503, count=2)`) and over HTTP
(POST /_sandbox/faults with {"fail_next": {"status": 503, "count": 2}, "latency_ms": 200,
"outage": {"seconds": 30, "mode": "refuse"}, "reset": true}). Control requests are never faulted.

An outage in "refuse" mode closes the listening socket (new connections are refused) and drops
requests arriving on kept-alive connections without an answer; "503" mode answers every request
503. Either ends by itself after `seconds` (measured on the real clock) or on `end_outage()`.
"""

import json
import threading
import time
from collections import deque

from .common import error_body

_GATEWAY = ("<html><head><title>{code}</title></head><body><h1>{code} {reason}</h1>"
            "<p>cloudflare</p></body></html>")
_REASONS = {502: "Bad Gateway", 504: "Gateway Timeout"}
REFUSE, UNAVAILABLE = "refuse", "503"


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self.on_outage = None  # set by the runtime: callback(mode, active)
        self.reset()

    def reset(self):
        with self._lock:
            self._next = deque()
            self.latency_ms = 0
            self.outage_mode, self.outage_until = None, 0.0
            self.injected = 0

    def fail_next(self, status=503, count=1, path=None):
        """Answer the next `count` API requests (whose path starts with `path`, if given) with `status`."""
        with self._lock:
            self._next.extend([(int(status), path)] * int(count))

    def outage(self, seconds, mode=REFUSE):
        if mode not in (REFUSE, UNAVAILABLE):
            raise ValueError("mode must be 'refuse' or '503'")
        with self._lock:
            self.outage_mode, self.outage_until = mode, time.monotonic() + float(seconds)
        if self.on_outage:
            self.on_outage(mode, True, float(seconds))

    def end_outage(self):
        with self._lock:
            mode, self.outage_mode = self.outage_mode, None
        if mode and self.on_outage:
            self.on_outage(mode, False, 0.0)

    def outage_now(self):
        """The active outage mode, or None (an expired outage ends here)."""
        with self._lock:
            if self.outage_mode and time.monotonic() >= self.outage_until:
                self.outage_mode = None
            return self.outage_mode

    def configure(self, spec):
        if spec.get("reset"):
            self.reset()
            self.end_outage()
        plans = spec.get("fail_next") or []
        for plan in [plans] if isinstance(plans, dict) else plans:
            self.fail_next(plan.get("status", 503), plan.get("count", 1), plan.get("path"))
        if "latency_ms" in spec:
            self.latency_ms = int(spec["latency_ms"] or 0)
        if spec.get("outage"):
            self.outage(spec["outage"].get("seconds", 30), spec["outage"].get("mode", REFUSE))
        if spec.get("end_outage"):
            self.end_outage()

    def take(self, path):
        """(status to force or None, latency in ms) for one API request."""
        with self._lock:
            for i, (status, prefix) in enumerate(self._next):
                if prefix is None or path.startswith(prefix):
                    del self._next[i]
                    self.injected += 1
                    return status, self.latency_ms
            return None, self.latency_ms

    def snapshot(self):
        with self._lock:
            return {"fail_next": [{"status": s, "path": p} for s, p in self._next], "latency_ms": self.latency_ms,
                    "outage": self.outage_mode, "injected": self.injected}


def fault_response(status):
    """(status, body bytes, headers) of an injected failure, shaped like whoever sends it: HubSpot's
    JSON for 500/503, the CDN's HTML page for 502/504."""
    if status in _REASONS:
        return status, _GATEWAY.format(code=status, reason=_REASONS[status]).encode(), {"Content-Type": "text/html"}
    category = "SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR"
    message = "Service Unavailable" if status == 503 else "internal error"
    return status, json.dumps(error_body(message, category)).encode(), {"Content-Type": "application/json"}
