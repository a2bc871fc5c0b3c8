"""HubSpot webhooks from the sandbox: property-change and creation events, signed with v3.

HubSpot's v3 signature is base64(HMAC-SHA256(app secret, method + URI + body + timestamp)) where URI
is the full target URL and timestamp the X-HubSpot-Request-Timestamp header (epoch ms); receivers
refuse timestamps older than five minutes. Events are sent as a JSON array, at most 100 per request,
like HubSpot. A change made over the API carries changeSource "INTEGRATION" and the app's id as
sourceId (how a receiver recognises the echo of its own write); one made by hand "CRM_UI".

Delivery is explicit (`deliver()`, POST /_sandbox/webhooks/deliver) or, from the command line, a
background flush every second. A failed request keeps its events queued with attemptNumber + 1,
dropped after MAX_ATTEMPTS (HubSpot retries 10 times over 24 hours).
"""

import base64
import hashlib
import hmac
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections import deque

from .common import APP_ID, APP_USER_ID, PORTAL_ID

BATCH = 100
MAX_ATTEMPTS = 10
# Properties whose changes are subscribed to by default, per object type.
DEFAULT_SUBSCRIPTIONS = {"contacts": ("hubspot_owner_id", "lifecyclestage"), "deals": ("dealstage", "hubspot_owner_id")}
_SINGULAR = {"contacts": "contact", "deals": "deal"}


def signature_v3(secret, method, uri, body: bytes, timestamp) -> str:
    source = method.encode() + uri.encode() + body + str(timestamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


class Webhooks:
    def __init__(self, clock, url=None, secret=None, subscriptions=None):
        self.clock = clock
        self.url, self.secret = url, secret
        self.subscriptions = dict(subscriptions or DEFAULT_SUBSCRIPTIONS)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.pending = deque()
        self.attempts = deque(maxlen=2000)  # {"status", "error", "events", "headers", "body"}
        self._stop = threading.Event()
        self._thread = None

    def configure(self, url=None, secret=None, subscriptions=None):
        with self._lock:
            self.url, self.secret = url or self.url, secret or self.secret
            if subscriptions is not None:
                self.subscriptions = {k: tuple(v) for k, v in subscriptions.items()}

    def on_change(self, changes, created=None):
        """Store callback (under the store's lock): queue events, send nothing."""
        if not self.url:
            return
        events = []
        if created is not None and created.kind in _SINGULAR:
            events.append(self._event(created.kind, created.id, created.created, "creation",
                                      source=changes[0]["source"] if changes else "CRM_UI", changeFlag="CREATED"))
        for change in changes:
            if change["name"] in self.subscriptions.get(change["kind"], ()):
                events.append(self._event(change["kind"], change["id"], change["ms"], "propertyChange",
                                          source=change["source"], propertyName=change["name"],
                                          propertyValue=change["value"]))
        with self._lock:
            self.pending.extend(events)

    def _event(self, kind, object_id, ms, what, source, **extra):
        by_hand = source == "CRM_UI"
        return {"eventId": next(self._ids), "subscriptionId": 1000 + list(_SINGULAR).index(kind),
                "portalId": PORTAL_ID, "appId": APP_ID, "occurredAt": ms,
                "subscriptionType": f"{_SINGULAR[kind]}.{what}", "attemptNumber": 0, "objectId": object_id,
                "changeSource": source, "sourceId": f"userId:{APP_USER_ID + 1}" if by_hand else str(APP_ID), **extra}

    def deliver(self, timeout=5.0):
        """Send everything queued now; returns the attempts made."""
        made = []
        while True:
            with self._lock:
                if not self.pending or not self.url:
                    return made
                batch = [self.pending.popleft() for _ in range(min(BATCH, len(self.pending)))]
                url, secret = self.url, self.secret or ""
            attempt = self._send(url, secret, batch, timeout)
            made.append(attempt)
            if not attempt["ok"]:
                retry = [{**e, "attemptNumber": e["attemptNumber"] + 1} for e in batch
                         if e["attemptNumber"] + 1 < MAX_ATTEMPTS]
                with self._lock:
                    self.pending.extendleft(reversed(retry))
                return made

    def _send(self, url, secret, events, timeout):
        body = json.dumps(events, separators=(",", ":")).encode()
        timestamp = str(self.clock.now_ms())
        headers = {"Content-Type": "application/json", "User-Agent": "HubSpot Webhooks",
                   "X-HubSpot-Request-Timestamp": timestamp,
                   "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, timestamp),
                   "X-HubSpot-Signature-Version": "v3"}
        attempt = {"url": url, "events": len(events), "status": None, "error": None, "ok": False,
                   "headers": headers, "body": body.decode()}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, body, headers, method="POST"),
                                        timeout=timeout) as response:
                attempt["status"] = response.status
        except urllib.error.HTTPError as exc:
            attempt["status"] = exc.code
        except OSError as exc:
            attempt["error"] = repr(exc)
        attempt["ok"] = attempt["status"] is not None and 200 <= attempt["status"] < 300
        self.attempts.append(attempt)
        return attempt

    def start(self, interval=1.0):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="crm-sandbox-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self, interval):
        while not self._stop.wait(interval):
            self.deliver()
