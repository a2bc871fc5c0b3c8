"""A local fake HubSpot account: the CRM API paths and shapes the adapter uses, limits, faults, webhooks.

Pure standard library (no Django), so it runs alone: ``python -m integrations.crm.sandbox``. It
imports nothing from the console either: a fake that shared the adapter's helpers would share its
bugs, and tests against it would prove nothing.

    from integrations.crm.sandbox import SandboxCrm
    with SandboxCrm.running(token="pat-test", tier="professional", contacts=20) as crm:
        crm.url  # http://127.0.0.1:<port>: give it to the adapter as its base URL
"""

from .app import SandboxCrm
from .common import ManualClock, WallClock
from .faults import REFUSE, UNAVAILABLE
from .webhooks import signature_v3

__all__ = ["REFUSE", "UNAVAILABLE", "ManualClock", "SandboxCrm", "WallClock", "signature_v3"]
