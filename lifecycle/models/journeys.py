"""The first 30 days: playbooks (what should happen, edited by managers) and journeys (what happened
to one customer).

A playbook's steps are edited in place (with history); each edit publishes a new PlaybookVersion
whose `steps` snapshot is what journeys start from. A journey copies its steps' definitions onto its
JourneyStep rows when it starts, so editing a playbook never changes a running journey (DOMAIN.md:
"running journeys keep their version").

Step states follow DOMAIN.md (pending / done / missed / skipped), with done split into on time and
late; a step completed twice, or by two teams, keeps its state and is flagged `duplicated` with both
events as evidence.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from lifecycle.models.customers import Customer
from lifecycle.models.orders import Order
from lifecycle.models.teams import Team


class OrderKind(models.TextChoices):
    ANY = "any", "Any order"
    FIRST = "first", "First order only"
    REPEAT = "repeat", "Repeat orders only (win-back, second purchase)"


class ReEntry(models.TextChoices):
    NEVER = "never", "Never: one journey per customer"
    AFTER_DAYS = "after_days", "Again after the re-entry gap since the last journey ended"
    ALWAYS = "always", "Every time the customer enters onboarding"


class Playbook(models.Model):
    """Expected touchpoints of the first 30 days for customers matching its conditions.

    When several active playbooks match a customer's paid order, the lowest `priority` wins (ties:
    the oldest). Empty conditions match everything.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower wins when several playbooks match.")
    # Conditions on the order that starts the journey.
    store = models.CharField(max_length=64, blank=True, help_text="Store slug; empty: every store.")
    product_categories = models.JSONField(
        default=list, blank=True, help_text="The order has a product in one of these categories; empty: any.")
    min_order_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    max_order_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    order_kind = models.CharField(max_length=16, choices=OrderKind.choices, default=OrderKind.ANY)
    # Exit criteria: the journey ends (steps left pending are skipped) when one of these happens.
    exit_on = models.JSONField(
        default=list, blank=True,
        help_text='What ends a running journey: any of "refunded", "cancelled", "churned".')
    re_entry = models.CharField(max_length=16, choices=ReEntry.choices, default=ReEntry.AFTER_DAYS)
    re_entry_days = models.PositiveSmallIntegerField(
        default=90, help_text="With 'again after the gap': days since the last journey of this playbook ended.")
    version = models.PositiveIntegerField(default=0, editable=False, help_text="The last published version.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return self.name


class DueTrigger(models.TextChoices):
    PAYMENT = "payment", "Payment (calendar)"
    SHIPPED = "shipped", "The order shipped"
    DELIVERED = "delivered", "The order was delivered"


class PlaybookStep(models.Model):
    """One expected touchpoint. Due `due_days` after payment (the calendar), or, when `trigger` is a
    behaviour, `trigger_days` after it happens, with the calendar as the fallback until it does.

    `signals` lists what completes it, as "<timeline event kind>" or "<kind>:<detail>" (e.g.
    "order_state_changed:shipped", "crm_activity:email", "manual"); lifecycle/services/journeys.py
    documents the vocabulary.
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    due_days = models.PositiveSmallIntegerField(default=0, help_text="Days after payment (0: at payment).")
    trigger = models.CharField(max_length=16, choices=DueTrigger.choices, default=DueTrigger.PAYMENT)
    trigger_days = models.PositiveSmallIntegerField(default=0, help_text="Days after the trigger.")
    signals = models.JSONField(default=list, blank=True)
    sla_minutes = models.PositiveIntegerField(
        default=24 * 60, help_text="Time the step's team has to catch up once the step is missed.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["playbook", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "key"], name="playbook_step_key_unique"),
        ]

    def __str__(self):
        return self.name


class PlaybookVersion(models.Model):
    """A playbook as published: its conditions and steps frozen as JSON. Never changed."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    steps = models.JSONField(default=list)
    conditions = models.JSONField(default=dict)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_unique"),
        ]

    def __str__(self):
        return f"{self.playbook} v{self.number}"


class JourneyStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Ended early"


class Journey(models.Model):
    """One customer's run through one playbook version, from the paid order that started it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="journeys")
    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="journeys")
    version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="journeys")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The paid order that started it.")
    status = models.CharField(max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.RUNNING)
    started_at = models.DateTimeField(help_text="Payment time: the calendar's day 0.")
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "playbook"], condition=Q(status="running"),
                                    name="one_running_journey_per_playbook"),
        ]
        indexes = [
            models.Index(fields=["customer", "-started_at"], name="journey_customer_idx"),
            models.Index(fields=["started_at"], name="journey_running_idx", condition=Q(status="running")),
        ]

    def __str__(self):
        return f"{self.playbook} for {self.customer}"


class StepState(models.TextChoices):
    PENDING = "pending", "Upcoming"
    DONE = "done", "Done on time"
    LATE = "late", "Done late"
    MISSED = "missed", "Missed"
    SKIPPED = "skipped", "Skipped"


class JourneyStep(models.Model):
    """A step of a running or finished journey, with its definition copied from the version."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="steps")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.PositiveSmallIntegerField()
    # Looked up with its team and state (journey_step_map_idx) or its journey (the unique key): an index
    # of its own (and its LIKE twin) only cost every sweep's and follower's update two more writes a row.
    key = models.SlugField(max_length=40, db_index=False)
    name = models.CharField(max_length=120)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    trigger = models.CharField(max_length=16, choices=DueTrigger.choices, default=DueTrigger.PAYMENT)
    trigger_days = models.PositiveSmallIntegerField(default=0)
    signals = models.JSONField(default=list, blank=True)
    sla_minutes = models.PositiveIntegerField(default=24 * 60)
    state = models.CharField(max_length=16, choices=StepState.choices, default=StepState.PENDING)
    calendar_due_at = models.DateTimeField(help_text="Payment + the step's days: the fallback due time.")
    due_at = models.DateTimeField(help_text="When it is due now: re-timed by its trigger when that happens.")
    done_at = models.DateTimeField(null=True, blank=True)
    missed_at = models.DateTimeField(null=True, blank=True)
    done_by = models.JSONField(default=dict, blank=True,
                               help_text="The evidence that completed it: event id, kind, team, who, comment.")
    duplicated = models.BooleanField(default=False)
    evidence = models.JSONField(default=list, blank=True, help_text="Every completing event seen, in order.")

    class Meta:
        ordering = ["journey", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "key"], name="journey_step_key_unique"),
        ]
        indexes = [
            # The sweep's scan: pending steps by due time.
            models.Index(fields=["due_at"], name="journey_step_due_idx", condition=Q(state="pending")),
            models.Index(fields=["customer", "state"], name="journey_step_customer_idx"),
            # The journey map counts by step and team and state.
            models.Index(fields=["key", "team", "state"], name="journey_step_map_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_state_display()})"


class JourneyWatermark(models.Model):
    """The one row saying how far the journey follower has read the timeline (by event id).

    Ids are taken when a row is inserted but seen when its transaction commits, so an event may
    appear below ids already read. The follower therefore reads from `safe_id`, and only moves it
    up to `seen_id` (what it had read by `seen_at`) once every transaction open then has ended, or
    that look is older than a transaction lasts;
    events read twice change nothing (a step keeps the ids of the events it took, see
    lifecycle/services/journeys/follow.py).
    """

    safe_id = models.BigIntegerField(default=0, help_text="Every event up to this id has been followed.")
    seen_id = models.BigIntegerField(default=0, help_text="The highest id read so far.")
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When seen_id was read.")
    followed = models.PositiveIntegerField(default=0, help_text="Events the last run followed.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "journey watermark"

    def __str__(self):
        return f"journeys followed up to event {self.safe_id}"
