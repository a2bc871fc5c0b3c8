"""A Redis restart while a task runs (the drill's fault): the worker reconnects instead of exiting.

Its own redis-server on a free port (the shared one is never restarted) and its own worker, whose task
(a store's drain) waits for the drain lock this test holds, so the task is in flight, unacknowledged,
when Redis goes away (console/consumer.py says what went wrong there).
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from integrations.woocommerce.tasks import drain_store
from lifecycle.db import locks
from tests.conftest import need_service
from tests.lifecycle.test_tasks import _database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.broker]
NO_STORE = 987_654_321  # a store with no deliveries: its drain takes the lock, finds nothing, ends


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis(port, tmp_path):
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)


def _until(condition, seconds, worker, log):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()[-6000:]
        if condition():
            return True
        time.sleep(0.25)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_worker_reconnects_after_redis_restarts_with_a_task_in_flight(tmp_path, monkeypatch):
    if shutil.which("redis-server") is None:
        need_service("needs the redis-server binary (the test restarts a Redis of its own)")
    port, queue, name = _free_port(), f"test-{uuid.uuid4().hex[:10]}", f"restart-{uuid.uuid4().hex[:6]}@test"
    url = f"redis://127.0.0.1:{port}/0"
    redis = _redis(port, tmp_path)
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": url}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    worker = None
    try:
        with open(log_path, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queue, "-n", name, "-c", "2",
                 "-l", "info", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery takes it over a broker given as an argument
        probe = Celery("probe", set_as_current=False)  # the test's own client of that Redis
        with probe.connection_for_write() as conn:
            def answers():
                try:
                    return probe.control.ping(destination=[name], timeout=1.0)
                except conn.connection_errors:  # asked again once Redis is back
                    return False

            assert _until(answers, 60, worker, log_path), log_path.read_text()[-6000:]
            # given a drain in flight in the worker, waiting for the store's drain lock the test holds
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [locks.key_id(("drain", NO_STORE))])
            probe.send_task(drain_store.name, args=[NO_STORE], queue=queue)
            assert _until(lambda: "drain_store" in log_path.read_text(), 30, worker, log_path)
            # when Redis restarts (empty), then the lock is let go
            redis.terminate()
            redis.wait(10)
            redis = _redis(port, tmp_path)
            time.sleep(1.0)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_all()")
            # then the worker is still running, and answers once it has reconnected
            assert _until(answers, 60, worker, log_path), log_path.read_text()[-6000:]
            assert worker.poll() is None, log_path.read_text()[-6000:]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.terminate()
        redis.wait(10)
