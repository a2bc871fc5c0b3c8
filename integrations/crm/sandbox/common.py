"""Small shared pieces: HubSpot's error bodies, time in milliseconds, the two clocks.

HubSpot stamps records in epoch milliseconds (properties carry ISO strings with ".123Z"); the
sandbox keeps the integer and renders the string, so two writes in the same millisecond share a
timestamp exactly as they do on HubSpot.
"""

import functools
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

# What the fake account claims to be (token info, webhook payloads).
PORTAL_ID = 62515
APP_ID = 456789
APP_USER_ID = 1000001  # the user who created the private app


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(message, category, **extra) -> dict:
    """HubSpot's error envelope: status, message, correlationId, category (+ errors, context...)."""
    return {"status": "error", "message": message, "correlationId": correlation_id(), "category": category, **extra}


class ApiError(Exception):
    """Raised inside handlers; the server answers `status` with `body`."""

    def __init__(self, status, message, category="VALIDATION_ERROR", headers=None, **extra):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = error_body(message, category, **extra)


def invalid_properties(problems) -> ApiError:
    """HubSpot's answer to a write with bad property values: one 400 for the whole batch, the
    per-property problems JSON-encoded inside the message (as HubSpot does) and in `errors`."""
    encoded = json.dumps([{"isValid": False, "message": m, "error": code, "name": name} for name, code, m in problems])
    errors = [{"message": m, "code": code, "context": {"propertyName": [name]}} for name, code, m in problems]
    return ApiError(400, f"Property values were not valid: {encoded}", errors=errors)


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@functools.lru_cache(maxsize=65536)  # bulk records share stamps; rendering is most of a search's answer
def iso_ms(ms: int) -> str:
    """2025-06-01T12:00:00.123Z: how HubSpot renders datetime properties and createdAt/updatedAt."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(value) -> int:
    """A filter value for a datetime property: epoch milliseconds, or an ISO date/time."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return to_ms(dt)


class WallClock:
    """UTC wall time in milliseconds for record timestamps.

    start=None follows real time; a start value freezes the clock there until advance() moves it,
    so a test gets exact (and, in bulk, equal) lastmodifieddate values.
    """

    def __init__(self, start=None):
        self._lock = threading.Lock()
        if isinstance(start, str):
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        self._start = to_ms(start) if start is not None else None
        self._shift = 0

    @property
    def frozen(self) -> bool:
        return self._start is not None

    def now_ms(self) -> int:
        with self._lock:
            base = self._start if self._start is not None else int(time.time() * 1000)
            return base + self._shift

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC)

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._shift += int(seconds * 1000)
        return self.now_ms()


class ManualClock:
    """A monotonic clock that only moves when told to: `clock()` reads it, `clock.sleep(s)` moves it.

    Give the same instance to the sandbox (its rate-limit windows) and to a client's pacer (its
    clock and sleep): a test then sends hundreds of paced requests in no real time, and both sides
    agree on what "the last ten seconds" means.
    """

    def __init__(self, start=1000.0):
        self._lock = threading.Lock()
        self._now = float(start)
        self.slept = 0.0

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.slept += seconds

    advance = sleep


def seconds_to_midnight(now: datetime) -> float:
    """HubSpot's daily limit resets at midnight (the sandbox uses UTC)."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()
