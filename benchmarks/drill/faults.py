"""The faults the drill injects while the month runs, each as an operator or the machine would cause it,
and each undone as a supervisor would (a process restarted at once; beat after its pause).

- worker killed: SIGKILL to the celery-queue worker and its pool while deliveries wait (in the middle of
  a drain's batch, which then rolls back), restarted two seconds later;
- Redis restarted: the drill's own redis-server stopped and started again, empty (no persistence);
- database connections terminated: pg_terminate_backend on every session of the drill's database;
- web restarted: gunicorn stopped (in-flight requests finish) and started again; the shop's deliveries
  meanwhile fail, and WooCommerce disables a webhook after its failures (operations' runbook re-activates it);
- beat stopped: for a while, then started again (and its schedule compressed again).
"""

import signal
import time

import requests

from drill import console, database
from drill.processes import wait_for_port

SUPERVISOR_DELAY = 2.0  # seconds before a supervisor starts a killed process again


class Faults:
    def __init__(self, *, procs, db_url, redis_port, web_port, operations, monitor, speedup):
        self.procs, self.db_url, self.redis_port, self.web_port = procs, db_url, redis_port, web_port
        self.operations, self.monitor, self.speedup = operations, monitor, speedup
        self.log = []  # (time, name, what happened)

    def note(self, name, detail):
        self.log.append((time.time(), name, detail))
        print(f"  FAULT {name}: {detail}", flush=True)

    def kill_worker(self):
        waiting = self._wait_for_backlog()
        self.procs.kill("worker-drains")
        self.note("worker killed", f"SIGKILL to the deliveries' worker and its pool with {waiting} deliveries waiting")
        time.sleep(SUPERVISOR_DELAY)
        self.procs.restart("worker-drains")

    def _wait_for_backlog(self, timeout=15):
        """Deliveries waiting for the worker, so the kill lands while it works (up to `timeout` s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.monitor.last
            if last is not None and last.waiting > 0 and time.time() - last.t < 5:
                return last.waiting
            time.sleep(0.1)
        return 0

    def restart_redis(self):
        self.procs.stop("redis", grace=10)
        started = time.time()
        proc = self.procs.restart("redis")
        up = wait_for_port(self.redis_port, proc, 30)
        self.note("Redis restarted", f"stopped and started empty in {time.time() - started:.1f} s"
                                     + ("" if up else " (NOT answering)"))

    def terminate_connections(self):
        ended = database.terminate_connections(self.db_url)
        self.note("database connections terminated", f"pg_terminate_backend ended {ended} sessions")

    def restart_web(self):
        started = time.time()
        self.procs.stop("web")
        proc = self.procs.restart("web")
        up = wait_for_port(self.web_port, proc, 120) and _answers(f"http://127.0.0.1:{self.web_port}/admin/login/", 120)
        self.note("web restarted", f"gunicorn stopped and answering again after {time.time() - started:.1f} s"
                  + ("" if up else " (NOT answering)"))
        reactivated = self.operations.reactivate_webhooks("runbook after the web restart")
        self.operations.sync_now("runbook after the web restart")
        self.note("operations", (f"re-activated the shop's webhooks {reactivated} (disabled by failed deliveries), "
                                 if reactivated else "") + "pressed the store's Sync now")

    def stop_beat(self, seconds):
        self.procs.signal("beat", signal.SIGTERM)
        self.procs.procs["beat"].wait(30)
        self.note("beat stopped", f"for {seconds:.0f} s")
        time.sleep(seconds)
        self.procs.restart("beat")
        compressed = wait_and_compress(self.speedup)
        self.note("beat started", "again" + ("" if compressed else " (its schedule NOT compressed: not written)"))


def _answers(url, timeout):
    """Whether the page answers (a worker booted, not only the master listening) within `timeout` s:
    operations act once the console is back, not when its port opens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def wait_and_compress(speedup, timeout=120):
    """Once beat has written the settings' schedule (at its start), compress it; False on a timeout."""
    from drill.dbsafe import database_errors, fresh_connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fresh_connection()
            if console.beat_wrote_schedule():
                console.compress_beat(speedup)
                return True
        except database_errors():
            pass
        time.sleep(0.5)
    return False
