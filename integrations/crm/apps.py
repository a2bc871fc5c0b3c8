from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "integrations.crm"
    label = "crm"
    verbose_name = "CRM"

    def ready(self):
        # The outbox hears of every new customer, handoff and stage move (it registers on import);
        # conflicts hear of the ownership conflicts a person resolves (to push the console's owner
        # back); deals tell reconciliation what the CRM's deal stages mean.
        from integrations.crm import conflicts, deals, outbox  # noqa: F401
