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


class EventKind(models.TextChoices):
    """What happened. Each kind has one builder in lifecycle/services/timeline.py, except ERP_INVOICE and NOTE."""

    CUSTOMER_CREATED = "customer_created", "Customer created"
    IDENTITY_LINKED = "identity_linked", "Identity linked"
    HANDOFF = "handoff", "Handed over"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    ORDER_CREATED = "order_created", "Order placed"
    ORDER_STATE_CHANGED = "order_state_changed", "Order status changed"
    STALE_EVENT = "stale_event", "Late shop update not applied"
    SAME_SECOND = "same_second", "Two updates in the same second"
    CLOCK_AHEAD = "clock_ahead", "Update dated in the future"
    UNMAPPED_STATUS = "unmapped_status", "Unmapped shop status"
    EXCEPTION_OPENED = "exception_opened", "Exception opened"
    EXCEPTION_CLAIMED = "exception_claimed", "Exception claimed"
    EXCEPTION_RELEASED = "exception_released", "Exception released"
    EXCEPTION_ASSIGNED = "exception_assigned", "Exception assigned"
    EXCEPTION_RESOLVED = "exception_resolved", "Exception resolved"
    EXCEPTION_REOPENED = "exception_reopened", "Exception reopened"
    EXCEPTION_BREACHED = "exception_breached", "SLA breached"
    # ERP_INVOICE and NOTE have no builder yet: the ERP's invoices and agents' notes to come
    # (benchmarks/console_seed.py seeds them, so the customer screen is measured with every source).
    # CRM_ACTIVITY is crm_activity_event's (the CRM's pulls).
    ERP_INVOICE = "erp_invoice", "Invoice booked in the ERP"
    CRM_ACTIVITY = "crm_activity", "CRM activity"
    NOTE = "note", "Note"
    # The first 30 days (lifecycle/services/journeys.py, health.py).
    JOURNEY_STARTED = "journey_started", "Journey started"
    JOURNEY_STEP_DONE = "journey_step_done", "Journey step done"
    JOURNEY_STEP_MISSED = "journey_step_missed", "Journey step missed"
    JOURNEY_ENDED = "journey_ended", "Journey ended"
    TOUCHPOINT = "touchpoint", "Touchpoint marked done"
    HEALTH_BAND_CHANGED = "health_band_changed", "Health band changed"


class TimelineEvent(ActorFields, AppendOnlyModel):
    """Written only by the builders in lifecycle/services/timeline.py, one per kind."""

    # Indexed by timeline_customer_time_idx (customer first): a second index on it alone only slows inserts.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline", db_index=False)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=64, choices=EventKind.choices)
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
            ActorFields.actor_user_index("timeline_actor_user_idx"),
        ]

    def __str__(self):
        return self.summary
