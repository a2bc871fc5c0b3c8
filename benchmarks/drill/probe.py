"""The two reads a user waits for, over HTTP against gunicorn while everything else runs: a manager's
customer screen (a session from the admin's login form) and the API lookup by email (a token), of
customers picked at random among those with orders, a few a second. Each answer's time is from the
request sent to the body read, as the client sees it; answers other than 200 (the web process down
for its restart) are counted apart, not timed.
"""

import random
import re
import threading
import time

import requests

PAUSE = 0.25  # between requests: about two screens and two lookups a second
SAMPLE_SECONDS = 20  # how often the customers to read are picked again


class Probe:
    def __init__(self, *, base_url, username, password, token, seed):
        self.base, self.username, self.password, self.token = base_url.rstrip("/"), username, password, token
        self.rng = random.Random(f"drill-probe-{seed}")
        self.samples = {"screen": [], "api": []}  # (time, ms)
        self.failures = {"screen": 0, "api": 0}
        self.stopping = threading.Event()
        self.session = None

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
            self.failures[kind] += 1
            return
        if answer.status_code == 200:
            self.samples[kind].append((time.time(), elapsed))
        else:
            self.failures[kind] += 1


def _some_customers():
    from django.db.models import Exists, OuterRef

    from lifecycle.models import Customer, Order

    return list(Customer.objects.filter(Exists(Order.objects.filter(customer=OuterRef("pk")))).exclude(email="")
                .order_by("?").values_list("pk", "email")[:200])
