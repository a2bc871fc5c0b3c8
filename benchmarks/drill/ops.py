"""The operations person: reacts to what the console reports, as its messages tell them to.

- A store's sync_failure saying WooCommerce disabled one of the console's webhooks (the backfill finds
  it): re-activate it in the shop (WooCommerce → Settings → Advanced → Webhooks; here its REST API) and
  press the store's "Sync now" (the admin queues backfill_store) to cover the gap.
- Right after restarting the web process, their runbook does the same before the console says so:
  the shop's deliveries failed meanwhile, and WooCommerce does not send them again.
- A rejected ERP file (the drop folder's sync_failure): export the day again without the bad rows and
  drop it under the same name (erp.py).
A file left in the drop folder's processing/ by a worker killed while importing it is the console's
own to recover (integrations/erp/drop.py imports it again): operations do nothing about it.
"""

import threading
import time

import requests

from drill.dbsafe import database_errors, fresh_connection

EVERY = 3.0  # seconds between two looks at the console


class Operations:
    def __init__(self, *, shop_url, consumer_key, consumer_secret, erp, store_id):
        self.api, self.store_id = shop_url.rstrip("/") + "/wp-json/wc/v3", store_id
        self.auth = (consumer_key, consumer_secret)
        self.erp = erp
        self.reactivated, self.redropped, self.synced = [], [], []
        self.stopping = threading.Event()

    def reactivate_webhooks(self, reason):
        """Re-activate every disabled webhook of the shop; returns their ids."""
        try:
            hooks = requests.get(f"{self.api}/webhooks", auth=self.auth, timeout=30).json()
            ids = [hook["id"] for hook in hooks if hook.get("status") == "disabled"]
            for hook_id in ids:
                requests.put(f"{self.api}/webhooks/{hook_id}", json={"status": "active"}, auth=self.auth, timeout=30)
        except (requests.RequestException, ValueError):
            return []
        if ids:
            self.reactivated.append((reason, ids))
        return ids

    def sync_now(self, reason):
        """The store's "Sync now" in the admin: a backfill from its cursor, on the worker."""
        from integrations.woocommerce.tasks import backfill_store

        backfill_store.delay(self.store_id)
        self.synced.append((time.time(), reason))

    def loop(self):
        while not self.stopping.wait(EVERY):
            self.redropped += self.erp.fix_rejected()
            try:
                fresh_connection()
                if _disabled_webhooks_reported() and self.reactivate_webhooks("the console's sync_failure"):
                    self.sync_now("after re-activating the webhooks")
            except database_errors():
                pass


def _disabled_webhooks_reported():
    from lifecycle.models import OPEN_STATUSES, ExceptionCase

    return ExceptionCase.objects.filter(kind="sync_failure", status__in=OPEN_STATUSES,
                                        evidence__has_key="disabled_webhook_ids").exists()
