"""Sweeps: the repair of customers without an owner, directly and in a real worker process."""

import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from lifecycle.models import Customer, Handoff, Order, Ownership
from lifecycle.tasks import assign_unowned_customers

ROOT = Path(__file__).resolve().parents[2]


def _customer_loaded_around_the_services():
    """A customer and an order inserted directly (as a raw data load would): no owner, no handoff."""
    customer = Customer.objects.create(display_name="Raw Load", email="raw@example.com")
    Order.objects.create(customer=customer, external_id="r1", number="R1", total=Decimal("10.00"), currency="EUR",
                         placed_at=timezone.now())
    return customer


@pytest.mark.django_db
def test_sweep_gives_every_customer_with_orders_an_owner_and_is_idempotent():
    customer = _customer_loaded_around_the_services()
    assert assign_unowned_customers() == 1
    owner = Ownership.objects.get(customer=customer)
    assert owner.team.slug == "commerce"
    assert Handoff.objects.get(customer=customer).actor_ref == "assign_unowned_customers"
    assert assign_unowned_customers() == 0  # a rerun finds nothing to do
    assert Handoff.objects.filter(customer=customer).count() == 1


def _database_url():
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_task_runs_in_a_real_worker_on_the_configured_broker_and_commits(tmp_path):
    # given a customer with an order and no owner, committed
    customer = _customer_loaded_around_the_services()
    queue = f"test-{uuid.uuid4().hex[:10]}"  # our own queue: no other worker can take the task
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_FILESYSTEM_DIR"] = str(settings.CELERY_FILESYSTEM_DIR)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool=solo", "-Q", queue, "-l", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        # when the sweep is sent through the broker
        assign_unowned_customers.apply_async(queue=queue)
        # then the worker process commits an owner for the customer
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Ownership.objects.filter(customer=customer).exists():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.25)
        assert Ownership.objects.filter(customer=customer).exists(), (tmp_path / "worker.log").read_text()
        assert Handoff.objects.get(customer=customer).actor_kind == "task"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
