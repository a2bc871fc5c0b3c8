"""The two reads a user waits for, over HTTP against gunicorn while everything else runs: a manager's
customer screen (a session from the admin's login form) and the API lookup by email (a token), of
customers picked at random among those with orders, a few a second. Each answer's time is from the
request sent to the body read, as the client sees it; answers other than 200 (the web process down
for its restart) are counted apart, not timed.

The probe runs in a process of its own (ProbeProcess; `python benchmarks/drill/probe.py CONFIG.json`),
as a browser is: a thread of the drill shared the drill's interpreter lock with its agents, monitor and
ERP, and an answer that had arrived waited for the lock before it was timed. Each answer is appended to
a JSON-lines file as it comes, which the drill reads.
"""

import json
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path

import requests

PAUSE = 0.25  # between requests: about two screens and two lookups a second
SAMPLE_SECONDS = 20  # how often the customers to read are picked again


class Probe:
    def __init__(self, *, base_url, username, password, token, seed, out):
        self.base, self.username, self.password, self.token = base_url.rstrip("/"), username, password, token
        self.rng = random.Random(f"drill-probe-{seed}")
        self.stopping = threading.Event()
        self.session = None
        self.out = open(out, "a", buffering=1)  # noqa: SIM115 (a line per answer, to the end: ProbeProcess reads it)

    def _record(self, kind, at=None, ms=None):
        """An answer: timed (at, ms), or not answered 200 (ms None)."""
        self.out.write(json.dumps({"read": kind, "t": at, "ms": ms}) + "\n")

    def _login(self):
        session = requests.Session()
        page = session.get(f"{self.base}/admin/login/", timeout=30)
        csrf = session.cookies.get("csrftoken") or re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"',
                                                               page.text).group(1)
        answer = session.post(f"{self.base}/admin/login/", timeout=30, allow_redirects=False,
                              data={"username": self.username, "password": self.password,
                                    "csrfmiddlewaretoken": csrf, "next": "/console/"},
                              headers={"Referer": f"{self.base}/admin/login/"})
        if answer.status_code != 302:
            raise RuntimeError(f"the manager's login answered {answer.status_code}")
        return session

    def loop(self):
        from drill.dbsafe import database_errors, fresh_connection

        customers, picked_at, turn = [], 0.0, 0
        while not self.stopping.wait(PAUSE):
            if time.monotonic() - picked_at > SAMPLE_SECONDS or not customers:
                try:
                    fresh_connection()
                    customers, picked_at = _some_customers(), time.monotonic()
                except database_errors():
                    continue
                if not customers:
                    continue
            pk, email = self.rng.choice(customers)
            turn += 1
            if turn % 2:
                self._time("screen", f"/console/customers/{pk}/", session=True)
            else:
                self._time("api", f"/api/v1/customers/?email={requests.utils.quote(email)}", session=False)

    def _time(self, kind, path, session):
        try:
            if session and self.session is None:
                self.session = self._login()
            client = self.session if session else requests
            headers = {} if session else {"Authorization": f"Token {self.token}"}
            started = time.perf_counter()
            answer = client.get(self.base + path, headers=headers, timeout=30, allow_redirects=False)
            answer.content  # noqa: B018 (read the whole body, as a browser does)
            elapsed = (time.perf_counter() - started) * 1000
        except (requests.RequestException, RuntimeError):
            self._record(kind)
            return
        if answer.status_code == 200:
            self._record(kind, time.time(), elapsed)
        else:
            self._record(kind)
            if session and "/login/" in answer.headers.get("Location", ""):
                self.session = None  # signed out (a new deployment's sessions): sign in again, as a person does


def _some_customers():
    from django.db.models import Exists, OuterRef

    from lifecycle.models import Customer, Order

    return list(Customer.objects.filter(Exists(Order.objects.filter(customer=OuterRef("pk")))).exclude(email="")
                .order_by("?").values_list("pk", "email")[:200])


class ProbeProcess:
    """The drill's handle on the probe's process: loop() starts it (through the drill's Processes) and
    stops it once `stopping` is set; samples and failures are read from its file."""

    def __init__(self, *, procs, config, path):
        self.procs, self.config, self.path = procs, config, Path(path)
        self.stopping = threading.Event()

    def loop(self):
        config = self.path.with_suffix(".json")
        config.write_text(json.dumps({**self.config, "out": str(self.path)}))
        self.procs.start("probe", [sys.executable, str(Path(__file__).resolve()), str(config)])
        self.stopping.wait()
        self.procs.stop("probe")

    def _answers(self):
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.endswith("}")]

    @property
    def samples(self):
        """{read: [(time, ms)]} of the answers timed."""
        found = {"screen": [], "api": []}
        for answer in self._answers():
            if answer["ms"] is not None:
                found[answer["read"]].append((answer["t"], answer["ms"]))
        return found

    @property
    def failures(self):
        """{read: how many were not answered 200}."""
        found = {"screen": 0, "api": 0}
        for answer in self._answers():
            found[answer["read"]] += answer["ms"] is None
        return found


def main(path):
    """The probe's process: Django for picking customers (the drill's environment), then the loop until
    SIGTERM."""
    sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
    import django

    django.setup()
    config = json.loads(Path(path).read_text())
    probe = Probe(**config)
    signal.signal(signal.SIGTERM, lambda *_: probe.stopping.set())
    probe.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
