"""A large export dropped for beat is applied by appliers side by side inside a real Celery worker's pool
process (prefork, as deployed), where multiprocessing may not start children: the appliers are forked
all the same, and every order takes the ERP's word."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from integrations.erp.models import ErpImport
from integrations.erp.tasks import import_erp_drop_folder
from integrations.woocommerce.intake import Item, orders_apply
from lifecycle.actors import Actor
from lifecycle.models import Order
from lifecycle.values import Outcome
from tests.integrations.erp.test_importing import GENERIC
from tests.integrations.wc_fixtures import load
from tests.lifecycle.test_tasks import _database_url

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.django_db(transaction=True)]
ORDERS = 4_200  # above SIDE_BY_SIDE_FROM chunks of a thousand: applied side by side


def shop_reports(store, numbers):
    payload = load("order_retrieve_response.json")
    items = [Item({**payload, "id": n, "number": str(n), "status": "processing"}, Actor.webhook(f"main/d-{n}"))
             for n in numbers]
    assert set(orders_apply(store=store, items=items)) == {Outcome.APPLIED}


def test_a_large_dropped_export_is_applied_side_by_side_in_a_prefork_worker(store, tmp_path, settings):
    numbers = range(50_000, 50_000 + ORDERS)
    shop_reports(store, numbers)
    drop = tmp_path / "drop"
    drop.mkdir()
    export = drop / "sales-orders.csv"
    export.write_text("\r\n".join([GENERIC, *(f"{n},shipped,29.35,USD,2025-12-05 12:00:00" for n in numbers)]) + "\r\n")
    os.utime(export, (time.time() - 60, time.time() - 60))  # written a minute ago: settled

    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
           "ERP_DROP_DIR": str(drop)}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_FILESYSTEM_DIR"] = str(settings.CELERY_FILESYSTEM_DIR)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool=prefork", "-c", "1", "-Q", queue,
             "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        import_erp_drop_folder.apply_async(queue=queue)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (drop / "done" / export.name).exists():
            assert worker.poll() is None, log_path.read_text()[-6000:]
            assert not (drop / "failed").exists() or not any((drop / "failed").iterdir()), log_path.read_text()[-6000:]
            time.sleep(0.5)
        assert (drop / "done" / export.name).exists(), log_path.read_text()[-6000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    batch = ErpImport.objects.get()
    assert (batch.state, batch.new, batch.orders_read) == (ErpImport.State.APPLIED, ORDERS, ORDERS), batch.message
    assert set(Order.objects.filter(number__in=[str(n) for n in numbers]).values_list("state", flat=True)) == {"shipped"}
    assert "daemonic" not in log_path.read_text()
