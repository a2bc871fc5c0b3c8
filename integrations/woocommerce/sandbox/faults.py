"""Fault injection for REST requests: forced statuses, latency, a host that drops Authorization.

Settable at construction (`SandboxStore(faults={...})`), from Python (`store.faults.fail_next(429)`)
and over HTTP (POST /__sandbox__/faults with the same JSON). Request numbers count every REST
request the sandbox receives (control requests under /__sandbox__/ are not counted), from 1.
"""

import threading
from collections import deque

from .common import php_json

# What real hosts answer. A 429 comes from the web server or a WAF in front of WordPress (HTML,
# not JSON); a 500 is WordPress's fatal-error handler, which answers REST requests in JSON.
_NGINX = "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
_REASONS = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}
_CRITICAL = {"code": "internal_server_error",
             "message": "<p>There has been a critical error on this website.</p><p><a href=\"https://wordpress.org/documentation/article/faq-troubleshooting/\">Learn more about troubleshooting WordPress.</a></p>",
             "data": {"status": 500}, "additional_errors": []}
DROP = 0  # "status" 0: close the connection without answering


class Faults:
    def __init__(self, spec=None):
        self._lock = threading.Lock()
        self.request_count = 0
        self.reset()
        if spec:
            self.configure(spec)

    def reset(self):
        """Forget every planned fault (the request counter keeps counting)."""
        with self._lock:
            self._next = deque()
            self._at = {}
            self.latency_ms = 0
            self.strip_authorization = False

    def fail_next(self, status, count=1, retry_after=None):
        """Answer the next `count` requests with `status` (429 gets Retry-After, default 1 s)."""
        with self._lock:
            self._next.extend([(int(status), retry_after)] * int(count))

    def fail_at(self, *numbers, status=500, retry_after=None):
        """Answer the requests with these absolute numbers (1-based) with `status`."""
        with self._lock:
            for n in numbers:
                self._at[int(n)] = (int(status), retry_after)

    def configure(self, spec):
        """Apply a JSON-shaped plan: {"reset", "fail_next", "fail_at", "latency_ms",
        "strip_authorization"}; fail_next is a dict or a list of {"status", "count", "retry_after"},
        fail_at maps request number -> status or is a list of {"request", "status", "retry_after"}."""
        if spec.get("reset"):
            self.reset()
        plans = spec.get("fail_next") or []
        for plan in [plans] if isinstance(plans, dict) else plans:
            self.fail_next(plan["status"], plan.get("count", 1), plan.get("retry_after"))
        at = spec.get("fail_at") or {}
        if isinstance(at, dict):
            at = [{"request": k, "status": v} for k, v in at.items()]
        for plan in at:
            self.fail_at(plan["request"], status=plan.get("status", 500), retry_after=plan.get("retry_after"))
        if "latency_ms" in spec:
            self.latency_ms = int(spec["latency_ms"] or 0)
        if "strip_authorization" in spec:
            self.strip_authorization = bool(spec["strip_authorization"])

    def take(self):
        """Count one request; returns (number, (status, retry_after) or None, latency_ms, strip)."""
        with self._lock:
            self.request_count += 1
            n = self.request_count
            fault = self._at.pop(n, None)
            if fault is None and self._next:
                fault = self._next.popleft()
            return n, fault, self.latency_ms, self.strip_authorization

    def snapshot(self):
        with self._lock:
            return {"request_count": self.request_count,
                    "fail_next": [{"status": s, "retry_after": r} for s, r in self._next],
                    "fail_at": {str(n): s for n, (s, _) in sorted(self._at.items())},
                    "latency_ms": self.latency_ms, "strip_authorization": self.strip_authorization}


def fault_response(status, retry_after):
    """(status, body, headers) of an injected failure, shaped like the host that would send it."""
    headers = {}
    if status == 500:
        headers["Content-Type"] = "application/json; charset=UTF-8"
        return status, php_json(_CRITICAL), headers
    if status in _REASONS or status >= 500:
        body = _NGINX.format(code=status, reason=_REASONS.get(status, "Error")).encode()
    else:
        body = php_json({"code": "sandbox_fault", "message": f"Injected status {status}.",
                         "data": {"status": status}})
    headers["Content-Type"] = "text/html" if body.startswith(b"<html") else "application/json; charset=UTF-8"
    if status in (429, 503):
        headers["Retry-After"] = str(1 if retry_after is None else retry_after)
    return status, body, headers
