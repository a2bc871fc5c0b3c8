"""The timeline: one append-only table of everything that happened to a customer."""

from django.db import models
from django.utils import timezone

from lifecycle.models.base import ActorFields, AppendOnlyModel
from lifecycle.models.customers import Customer
from lifecycle.models.orders import Order


class EventSource(models.TextChoices):
    SHOP = "shop", "Shop"
    ERP = "erp", "ERP"
    CRM = "crm", "CRM"
    CONSOLE = "console", "Console"
    SYSTEM = "system", "System"


class TimelineEvent(ActorFields, AppendOnlyModel):
    """Written only by the builders in lifecycle/services/timeline.py, one per kind."""

    # Indexed by timeline_customer_time_idx (customer first): a second index on it alone only slows inserts.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline", db_index=False)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="timeline_customer_time_idx"),
            # Equality only (the admin's filter): no LIKE index beside it, as db_index would add.
            models.Index(fields=["kind"], name="timeline_kind_idx"),
        ]

    def __str__(self):
        return self.summary
