"""SandboxCrm: the fake account (store, limits, faults, webhooks) and the server that serves it.

    with SandboxCrm.running(token="pat-test", tier="professional", contacts=20, owners=3) as crm:
        crm.url                                   # http://127.0.0.1:<ephemeral>
        crm.faults.fail_next(503, count=2)        # the next two API requests
        crm.outage(30, mode="refuse")             # listener closed for 30 s (or "503")
        crm.edit("contacts", "ann@example.com", {"lifecyclestage": "lead"})   # by hand
        crm.counters()["rate_limited_total"]      # 429s answered
"""

import random
import threading
from collections import Counter, deque
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from . import schema
from .common import WallClock, parse_time
from .faults import REFUSE, Faults
from .limits import RateLimits
from .store import CrmStore
from .webhooks import Webhooks

MAX_LOG = 5000  # requests kept for inspection; older ones fall off
_NAMES = [("Ana", "Souza"), ("Bruno", "Lima"), ("Carla", "Reis"), ("Diego", "Alves"), ("Elisa", "Rocha"),
          ("Fabio", "Nunes"), ("Gabi", "Pires"), ("Hugo", "Melo")]


def owner_entry(entry):
    """"ann@example.com" or "ann@example.com:Ann Lee" -> (email, first name, last name); without a
    name, the part of the email before "@" is the first name."""
    email, _, name = entry.strip().partition(":")
    first, _, last = (name.strip() or email.split("@")[0].replace(".", " ").title()).partition(" ")
    return email.strip(), first, last.strip()


class SandboxCrm:
    def __init__(self, *, token="pat-sandbox", scopes=None, tier="professional", contacts=0, owners=3, seed=1,
                 owner_emails=(), now=None, monotonic=None, window_seconds=10.0, per_window=None, search_per_second=4, daily=None,
                 retry_after=None, search_cap=10_000, webhook_url=None, webhook_secret=None, time_zone="UTC"):
        self.clock = WallClock(now)
        self.time_zone = time_zone  # the account's (GET /account-info/v3/details): its days end at its midnight
        self.started_ms = self.clock.now_ms()
        self.webhooks = Webhooks(self.clock, webhook_url, webhook_secret)
        self.store = CrmStore(self.clock, on_change=self.webhooks.on_change)
        self.tokens = {}
        self.add_token(token, scopes)
        limit_options = {"monotonic": monotonic} if monotonic else {}
        limit_options["today"] = lambda: datetime.now(ZoneInfo(self.time_zone)).strftime("%Y-%m-%d")
        self.limits = RateLimits(tier, per_window=per_window, window_seconds=window_seconds,
                                 search_per_second=search_per_second, daily=daily, retry_after=retry_after,
                                 **limit_options)
        self.faults = Faults()
        self.faults.on_outage = self._on_outage
        self.search_cap = search_cap
        self.requests = deque(maxlen=MAX_LOG)
        self.errors = []  # tracebacks of sandbox bugs (answered 500)
        self._counts, self._n, self._log_lock = Counter(), 0, threading.Lock()
        self._server, self._resume_timer, self._bind, self._closing = None, None, None, None
        self.url = None
        self._seed(random.Random(seed), owners, contacts, owner_emails)

    def _seed(self, rng, owners, contacts, owner_emails):
        for entry in owner_emails:
            email, first, last = owner_entry(entry)
            self.store.add_owner(email, first, last)
        for i in range(owners):
            first, last = _NAMES[i % len(_NAMES)]
            self.store.add_owner(f"{first.lower()}.{last.lower()}{i // len(_NAMES) or ''}@aftercare.example",
                                 first, last)
        stages = [value for value, _ in schema.LIFECYCLE_STAGES[:6]]
        for i in range(contacts):
            props = {"email": f"customer{i + 1}@example.com", "firstname": f"Customer{i + 1}",
                     "lifecyclestage": rng.choice(stages)}
            if self.store.owners:
                props["hubspot_owner_id"] = rng.choice(self.store.owners)["id"]
            self.store.create("contacts", props)

    # -- accounts, tokens, convenience -----------------------------------------------------------
    def add_token(self, token, scopes=None):
        self.tokens[token] = frozenset(scopes) if scopes is not None else schema.ALL_SCOPES

    def edit(self, kind, key, properties):
        """Change a record as a person would in HubSpot's UI (any stage, bumps its stamp)."""
        return self.store.edit(schema.object_type(kind), key, properties)

    def add_activity(self, kind, contacts=(), properties=None, occurred_at=None, modified_at=None):
        ids = []
        for key in contacts:
            rec = self.store.find("contacts", key, "email" if "@" in str(key) else None)
            if rec is None:
                raise KeyError(f"no contact {key}")
            ids.append(rec.id)
        return self.store.add_activity(schema.object_type(kind), ids, properties,
                                       parse_time(occurred_at) if occurred_at is not None else None,
                                       parse_time(modified_at) if modified_at is not None else None)

    def contact(self, email):
        """The contact's properties (all of them) or None."""
        with self.store.lock:
            rec = self.store.find("contacts", email, "email")
            return dict(rec.props, hs_object_id=str(rec.id)) if rec else None

    def deal(self, key, id_property="aftercare_order_key"):
        with self.store.lock:
            rec = self.store.find("deals", key, id_property)
            if rec is None:
                return None
            contacts = self.store.associated("deals", rec.id, "contacts")
            return dict(rec.props, hs_object_id=str(rec.id), contacts=[str(c) for c in contacts])

    def record_request(self, method, path, token, body, status):
        with self._log_lock:
            self._n += 1
            self._counts["requests"] += 1
            self._counts[f"status_{status}"] += 1
            self.requests.append({"n": self._n, "method": method, "path": path, "status": status,
                                  "token": token, "body": body if isinstance(body, (dict, list)) else None})

    def counters(self):
        with self._log_lock:
            counts = dict(self._counts)
        limits = self.limits.snapshot()
        by_status = {k[7:]: v for k, v in counts.items() if k.startswith("status_")}
        return {"requests": counts.get("requests", 0), "by_status": by_status, "rate_limited": limits["refused"],
                "rate_limited_total": limits["refused_total"], "faults_injected": self.faults.snapshot()["injected"]}

    def requests_to(self, path_part, method=None):
        return [r for r in list(self.requests) if path_part in r["path"] and (method is None or r["method"] == method)]

    def summary(self):
        with self.store.lock:
            counts = {kind: len(recs) for kind, recs in self.store.objects.items()}
        return {"url": self.url, "objects": counts, "owners": len(self.store.owners), "limits": self.limits.snapshot(),
                "faults": self.faults.snapshot(), "counters": self.counters(), "search_cap": self.search_cap,
                "errors": len(self.errors)}

    # -- serving -----------------------------------------------------------------------------------
    def start(self, host="127.0.0.1", port=0, verbose=False):
        """Serve on host:port (0 = ephemeral) in a daemon thread."""
        from .server import SandboxServer

        self._server = SandboxServer(self, host, port, verbose=verbose).start()
        self._bind = (host, self._server.server_port, verbose)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = f"http://{shown}:{self._server.server_port}"
        return self

    def stop(self):
        if self._resume_timer:
            self._resume_timer.cancel()
        self.webhooks.stop()
        if self._server:
            self._server.stop()
            self._server = None

    def outage(self, seconds, mode=REFUSE):
        """Nothing answers for `seconds`: connections refused ("refuse") or every request 503 ("503")."""
        self.faults.outage(seconds, mode)

    def end_outage(self):
        self.faults.end_outage()

    def _on_outage(self, mode, active, seconds):
        if mode != REFUSE or not self._bind:
            return
        if active:
            if self._server:
                # Close the listener from another thread: a control request may be what asked for it.
                server, self._server = self._server, None
                self._closing = threading.Thread(target=server.stop, daemon=True)
                self._closing.start()
            self._resume_timer = threading.Timer(seconds, self.end_outage)
            self._resume_timer.daemon = True
            self._resume_timer.start()
        elif self._server is None:
            from .server import SandboxServer

            if self._resume_timer:
                self._resume_timer.cancel()
            if self._closing:
                self._closing.join(timeout=5)  # the old listener must be gone before the port is bound again
            host, port, verbose = self._bind
            self._server = SandboxServer(self, host, port, verbose=verbose).start()

    @classmethod
    @contextmanager
    def running(cls, *, host="127.0.0.1", port=0, verbose=False, **options):
        """`with SandboxCrm.running(token="pat-test", tier="starter") as crm:` — a served account."""
        crm = cls(**options)
        crm.start(host, port, verbose=verbose)
        try:
            yield crm
        finally:
            crm.stop()
