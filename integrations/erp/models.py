"""The ERP import's records: each profile's settings and status mappings (edited, with history), each
import batch with its row errors, and the ERP's own view of every order it exported.

An ERP row changes an order only through the domain's observations (importing.py); ErpRecord keeps
what the ERP said beside it: for an order the shop has not reported (an orphan, `order` empty) it is
all the console has, and the shop's order takes it in when it arrives (records.py).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integrations.erp.profiles import PROFILES, column_labels
from integrations.models import MAPPING_CHOICES, StoreConnection
from lifecycle.models import Order

PROFILE_CHOICES = [(profile.key, profile.title) for profile in PROFILES.values()]


class ErpSettings(models.Model):
    """How operations' exports of one profile read: their own column names, and whose order numbers."""

    profile = models.CharField(max_length=16, choices=PROFILE_CHOICES, unique=True)
    column_overrides = models.JSONField(
        default=dict, blank=True,
        help_text='The export\'s own header for a field, or a list of them: {"shop_order_number": "Shop Order"}.')
    store = models.ForeignKey(
        StoreConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The store whose order numbers the ERP carries; empty: the only connected store.")
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "ERP settings"
        ordering = ["profile"]

    def __str__(self):
        return f"{self.get_profile_display()} settings"

    def clean(self):
        if not isinstance(self.column_overrides, dict):
            raise ValidationError({"column_overrides": "A mapping of field → header."})
        try:
            column_labels(PROFILES[self.profile], self.column_overrides)
        except (KeyError, ValueError) as error:
            raise ValidationError({"column_overrides": str(error)}) from None


class ErpStatusMapping(models.Model):
    """A profile's raw status (or status combination) → canonical state; managers edit it, history is kept."""

    profile = models.CharField(max_length=16, choices=PROFILE_CHOICES)
    raw_status = models.CharField(max_length=64, help_text='As imports show it, in any case: e.g. '
                                                           '"To Deliver and Bill|Not Delivered|Not Billed".')
    canonical = models.CharField(max_length=32, choices=MAPPING_CHOICES)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "raw_status"], name="erp_one_mapping_per_status")]
        ordering = ["profile", "raw_status"]
        verbose_name = "ERP status mapping"

    def __str__(self):
        return f"{self.profile}: {self.raw_status} → {self.canonical}"


class ErpImport(models.Model):
    """One file brought in (or previewed): who, when, what, how it read, and what it changed."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PREVIEWED = "previewed", "Previewed (nothing applied)"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected (nothing applied)"
        FAILED = "failed", "Failed (the chunks before the error are applied)"

    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING, db_index=True)
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes.")
    profile = models.CharField(max_length=16, choices=PROFILE_CHOICES, blank=True)
    profile_detected = models.BooleanField(default=False, help_text="Detected from the header row, not chosen.")
    profile_reason = models.TextField(blank=True, help_text="Which profile, and why.")
    store = models.ForeignKey(StoreConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The store whose order numbers the rows were matched to.")
    dry_run = models.BooleanField(default=True)
    skip_invalid = models.BooleanField(default=False, help_text="Apply the valid rows of a file with invalid ones.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    actor_ref = models.CharField(max_length=200, blank=True, help_text="Who started it (a user, a task, a command).")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    lines_read = models.PositiveIntegerField(default=0, help_text="Physical lines of the file read so far.")
    orders_read = models.PositiveIntegerField(default=0, help_text="Valid orders read so far.")
    new = models.PositiveIntegerField(default=0, help_text="Orders the ERP reported for the first time.")
    updated = models.PositiveIntegerField(default=0, help_text="Orders whose ERP status this file brought up to date.")
    unchanged = models.PositiveIntegerField(default=0, help_text="Orders not newer than what the ERP said before.")
    invalid = models.PositiveIntegerField(default=0, help_text="Lines with a row error.")
    orphans = models.PositiveIntegerField(default=0, help_text="Orders the shop has not reported (kept aside).")
    message = models.TextField(blank=True, help_text="Why the file was refused, or what the import means.")
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                     help_text="The earlier import that applied the same file.")
    # While it runs (in the background for a large file, erp_import_queue), its page polls these.
    phase = models.CharField(max_length=16, blank=True, help_text="queued, reading or applying; empty when done.")
    percent = models.PositiveSmallIntegerField(default=0, help_text="How far the current phase is.")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "ERP import"

    def __str__(self):
        return f"ERP import #{self.pk} {self.filename} ({self.get_state_display()})"


class ErpImportError(models.Model):
    """One bad value (or row) of an import: its physical line, the column as the file names it, the value."""

    erp_import = models.ForeignKey(ErpImport, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.TextField(blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["erp_import", "line", "id"]
        indexes = [models.Index(fields=["erp_import", "line"], name="erp_import_error_line_idx")]

    def __str__(self):
        return f"line {self.line}: {self.message}"


class ErpRecord(models.Model):
    """What the ERP last said about one of its orders, and the shop's order it names (empty: an orphan)."""

    namespace = models.CharField(max_length=16, choices=PROFILE_CHOICES, help_text="The profile that read it.")
    erp_id = models.CharField(max_length=64, help_text="The order's id in the ERP.")
    store_namespace = models.CharField(max_length=64, help_text="The slug of the store whose number it names.")
    shop_order_number = models.CharField(max_length=64)
    raw_status = models.CharField(max_length=64)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    observed_at = models.DateTimeField(help_text="The ERP's last change (its modified column, else the import's time).")
    placed_at = models.DateTimeField(null=True, blank=True)
    customer_email = models.CharField(max_length=254, blank=True)
    erp_import = models.ForeignKey(ErpImport, null=True, on_delete=models.SET_NULL, related_name="records",
                                   help_text="The import that carried what is kept.")
    line = models.PositiveIntegerField(help_text="Its line in that import's file.")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="erp_records")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "erp_id"], name="erp_record_unique")]
        indexes = [
            # The shop's new orders look for the orphans waiting on their numbers (records.py).
            models.Index(fields=["store_namespace", "shop_order_number"], condition=Q(order__isnull=True),
                         name="erp_record_orphan_idx"),
        ]
        ordering = ["namespace", "erp_id"]
        verbose_name = "ERP record"

    def __str__(self):
        return f"{self.namespace} {self.erp_id} (#{self.shop_order_number})"
