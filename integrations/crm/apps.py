from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "integrations.crm"
    label = "crm"
    verbose_name = "CRM"

    def ready(self):
        # The outbox hears of every new customer, handoff and stage move (it registers on import).
        from integrations.crm import outbox  # noqa: F401
