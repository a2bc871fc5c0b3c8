"""The console's admin. Django's autodiscovery imports this package (the `console` app); importing
the modules registers every ModelAdmin. `auth` and `tokens` come last: they replace admins that
the apps listed before `console` in INSTALLED_APPS registered first."""

from console.admin import config, customers, exceptions, orders, ownership, teams, timeline  # noqa: F401
from console.admin import crm, crm_outbox, deliveries, erp, integrations, logins  # noqa: F401
from console.admin import health, journeys  # noqa: F401
from console.admin import auth, tokens  # noqa: F401, E402
