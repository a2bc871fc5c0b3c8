"""Owner-bound problems ("exceptions" in DOMAIN.md; named ExceptionCase so it never shadows Python's)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

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
CLOSED_STATUSES = (ExceptionStatus.RESOLVED, ExceptionStatus.DISMISSED)
X = ExceptionStatus


class Severity(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class ExceptionPolicy(models.Model):
    """Per kind: the default queue and SLA (DOMAIN.md's table, editable by managers, history kept)."""

    kind = models.CharField(max_length=32, choices=ExceptionKind.choices, unique=True)
    queue = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="Empty: the managers' queue (unless 'owner team' is set).")
    route_to_owner_team = models.BooleanField(
        default=False, help_text="Send it to the subject customer's owning team (falls back to the queue above)."
    )
    sla_minutes = models.PositiveIntegerField(help_text="Time to resolve, from opening.")
    business_hours = models.BooleanField(default=True, help_text="Count only the queue's business hours.")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.NORMAL)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        verbose_name_plural = "exception policies"

    def __str__(self):
        return self.get_kind_display()


class ExceptionCase(ConcurrentTransitionMixin, models.Model):
    kind = models.CharField(max_length=32, choices=ExceptionKind.choices)
    # What the problem is about, as one string ("order:42", "store:main/status:shipped"), so that
    # "one open exception per (kind, subject)" is a plain unique index whatever the subject is.
    subject_key = models.CharField(max_length=200)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions")
    queue = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions",
                              help_text="Owning queue; empty means the managers' queue.")
    assignee = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.NORMAL)
    status = FSMField(max_length=16, choices=ExceptionStatus.choices, default=X.OPEN, protected=True)
    summary = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1, help_text="How often the condition was seen while open.")
    due_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True, help_text="When the SLA sweep found it overdue.")
    escalated_from = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                       help_text="The team queue it was in before escalation to managers.")
    reopened_count = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "exception"
        ordering = ["opened_at", "id"]
        permissions = [
            ("assign_exceptioncase", "Can assign, reassign and rebalance exceptions"),
            ("dismiss_exceptioncase", "Can dismiss exceptions"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_key"], condition=Q(status__in=OPEN_STATUSES), name="one_open_exception_per_subject"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "queue", "opened_at"], name="exception_queue_idx"),
            # A recurrence reopens the last closed exception of its (kind, subject): found by this index.
            models.Index(fields=["kind", "subject_key"], name="exception_subject_idx"),
            # The SLA sweep's scan: open, not yet breached, by due time.
            models.Index(fields=["due_at"], name="exception_due_open_idx",
                         condition=Q(status__in=OPEN_STATUSES, breached_at__isnull=True)),
            # The dashboard counts every open exception by kind, queue and age in one scan of this
            # (index-only on PostgreSQL: the INCLUDE columns are what it counts).
            # Not led by kind: a raise's lookup by (kind, subject) must find only the one-open index
            # to lead with kind, or the planner may walk every open exception of the kind here.
            models.Index(fields=["queue", "kind", "opened_at"], include=["assignee", "due_at", "breached_at"],
                         name="exception_open_breakdown_idx", condition=Q(status__in=OPEN_STATUSES)),
            # An agent's open items, oldest first (agent home), and who holds what (dashboard, routing loads).
            models.Index(fields=["assignee", "opened_at"], include=["queue", "due_at"],
                         name="exception_assignee_open_idx", condition=Q(status__in=OPEN_STATUSES)),
            # The queue pages' order (most urgent first; the admin adds -pk): their first page is read
            # off this index, whatever the queue's size.
            models.Index(fields=["due_at", "opened_at", "-id"], name="exception_open_urgency_idx",
                         condition=Q(status__in=OPEN_STATUSES)),
            # Unclaimed open exceptions by customer: "which of my customers wait for someone" (agent home).
            models.Index(fields=["customer", "opened_at"], name="exception_unclaimed_idx",
                         condition=Q(status=X.OPEN, assignee__isnull=True)),
            # The SLA breach rate: every exception that fell due in a window, closed ones included.
            models.Index(fields=["due_at"], include=["breached_at", "closed_at"], name="exception_due_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    # Transitions only change the status; the services in lifecycle/services/exceptions.py lock,
    # check permissions, stamp times and write the timeline.
    @transition(status, source=X.OPEN, target=X.IN_PROGRESS)
    def claim(self):
        pass

    @transition(status, source=X.IN_PROGRESS, target=X.OPEN)
    def release(self):
        pass

    @transition(status, source=[X.OPEN, X.IN_PROGRESS], target=X.RESOLVED)
    def resolve(self):
        pass

    @transition(status, source=[X.OPEN, X.IN_PROGRESS], target=X.DISMISSED)
    def dismiss(self):
        pass

    @transition(status, source=[X.RESOLVED, X.DISMISSED], target=X.OPEN)
    def reopen(self):
        pass
