from django.apps import AppConfig


class ErpConfig(AppConfig):
    name = "integrations.erp"
    label = "erp"
    verbose_name = "ERP"

    def ready(self):
        # The status mappings tell reconciliation what ERP statuses mean; the records hear of the
        # shop's new orders, to attach the ERP rows that named them first (both register on import).
        from integrations.erp import records, status_mappings  # noqa: F401
