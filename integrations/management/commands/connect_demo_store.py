"""Connect the local sandbox store as "demo" (used by `make run`); safe to run again.

The keys come from the environment (make run generates them into var/demo.env): they exist only on
this machine, for a sandbox that never leaves it.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from integrations.models import StoreConnection
from integrations.stores import store_connect
from lifecycle.actors import Actor

KEYS = ("SANDBOX_CONSUMER_KEY", "SANDBOX_CONSUMER_SECRET", "SANDBOX_WEBHOOK_SECRET")


class Command(BaseCommand):
    help = "Connect (or re-key) the local WooCommerce sandbox as the store 'demo'."

    def handle(self, *args, **options):
        missing = [key for key in KEYS if not os.environ.get(key)]
        if missing:
            raise CommandError(f"Set {', '.join(missing)} (make run writes them to var/demo.env).")
        key, secret, webhook_secret = (os.environ[k] for k in KEYS)
        url = f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT', '8100')}"
        store = StoreConnection.objects.filter(slug="demo").first()
        if store is None:
            store = store_connect(name="Demo shop (sandbox)", slug="demo", base_url=url, consumer_key=key,
                                  consumer_secret=secret, webhook_secret=webhook_secret,
                                  actor=Actor.system("connect_demo_store"))
        else:
            store.base_url, store.consumer_key, store.consumer_secret = url, key, secret
            store.webhook_secret = webhook_secret
            store.save(update_fields=["base_url", "consumer_key", "consumer_secret", "webhook_secret"])
        self.stdout.write(f"Demo store connected: {store.base_url} → {store.webhook_path()}")
