"""Owner-bound problems ("exceptions" in DOMAIN.md; named ExceptionCase so it never shadows Python's)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from lifecycle.models.customers import Customer
from lifecycle.models.orders import Order
from lifecycle.models.teams import Agent, Team


class ExceptionKind(models.TextChoices):
    UNOWNED_CUSTOMER = "unowned_customer", "Unowned customer"
    UNASSIGNED_CUSTOMER = "unassigned_customer", "Unassigned customer"
    OWNERSHIP_CONFLICT = "ownership_conflict", "Ownership conflict"
    STATE_MISMATCH = "state_mismatch", "State mismatch"
    UNMAPPED_STATUS = "unmapped_status", "Unmapped status"
    MISSED_TOUCHPOINT = "missed_touchpoint", "Missed touchpoint"
    DUPLICATE_CUSTOMER = "duplicate_customer", "Duplicate customer"
    SYNC_FAILURE = "sync_failure", "Sync failure"
    AT_RISK = "at_risk", "At risk"
    PAYMENT_PROBLEM = "payment_problem", "Payment problem"


class ExceptionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


OPEN_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.IN_PROGRESS)


class ExceptionCase(models.Model):
    kind = models.CharField(max_length=32, choices=ExceptionKind.choices)
    # What the problem is about, as one string ("order:42", "store:main/status:shipped"), so that
    # "one open exception per (kind, subject)" is a plain unique index whatever the subject is.
    subject_key = models.CharField(max_length=200)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions")
    queue = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions",
                              help_text="Owning queue; empty means the managers' queue.")
    assignee = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions")
    severity = models.PositiveSmallIntegerField(default=2, help_text="1 low … 4 critical")
    status = models.CharField(max_length=16, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN)
    summary = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1, help_text="How often the condition was seen while open.")
    due_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "exception"
        ordering = ["opened_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_key"], condition=Q(status__in=OPEN_STATUSES), name="one_open_exception_per_subject"
            ),
        ]
        indexes = [models.Index(fields=["status", "queue", "opened_at"], name="exception_queue_idx")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES
