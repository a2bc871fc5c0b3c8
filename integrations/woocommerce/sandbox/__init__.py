"""A local fake WooCommerce store: REST API v3, lifecycle simulation and webhook delivery.

Pure standard library (no Django), so it runs alone: ``python -m integrations.woocommerce.sandbox``.
It imports nothing from the console either: a store that shared the console's helpers would share
its bugs, and tests against it would prove nothing.

    from integrations.woocommerce.sandbox import SandboxStore
    with SandboxStore.running(seed=1, orders=250, consumer_key="ck_test",
                              consumer_secret="cs_test") as store:
        store.url  # http://127.0.0.1:<port>
"""

from .common import Clock, php_json
from .faults import Faults
from .receiver import WebhookReceiver
from .store import SandboxStore

__all__ = ["Clock", "Faults", "SandboxStore", "WebhookReceiver", "php_json"]
