"""Edges to the outside: store connections, status mappings, and every inbound event kept raw."""

from django.db import models
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integrations.crypto import EncryptedTextField, mask
from lifecycle.models import OrderState
from lifecycle.statuses import IGNORE

MAPPING_CHOICES = [*OrderState.choices, (IGNORE, "Ignore (not an order yet)")]


class StoreConnection(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50, unique=True, help_text="Part of the webhook URL.")
    base_url = models.URLField(help_text="The shop's address, e.g. https://shop.example.com")
    consumer_key = EncryptedTextField()
    consumer_secret = EncryptedTextField()
    webhook_secret = EncryptedTextField()
    query_string_auth = models.BooleanField(
        default=False, help_text="Send keys in the query string, for hosts that strip the Authorization header."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def webhook_path(self):
        return reverse("woocommerce-webhook", kwargs={"store_slug": self.slug})

    @property
    def consumer_key_hint(self):
        return mask(self.consumer_key)


class StatusMapping(models.Model):
    """A store's raw WooCommerce status → canonical order state; managers edit it, history is kept."""

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="status_mappings")
    raw_status = models.CharField(max_length=64)
    canonical = models.CharField(max_length=32, choices=MAPPING_CHOICES)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "raw_status"], name="one_mapping_per_raw_status")]
        ordering = ["store", "raw_status"]

    def __str__(self):
        return f"{self.store.slug}: {self.raw_status} → {self.canonical}"


class InboundEvent(models.Model):
    """One delivery as it arrived (body bytes and headers), stored before any processing.

    Kept whatever happens to it: rejected deliveries for operators to inspect, processed ones so a
    replay can prove it changes nothing.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting"
        PROCESSED = "processed", "Processed"
        DUPLICATE = "duplicate", "Duplicate (already processed)"
        STALE = "stale", "Stale (older than stored state)"
        IGNORED = "ignored", "Ignored (topic not handled)"
        REJECTED = "rejected", "Rejected (signature)"
        MALFORMED = "malformed", "Malformed body"
        FAILED = "failed", "Failed (will be retried)"

    source = models.CharField(max_length=16, default="woocommerce")
    store = models.ForeignKey(StoreConnection, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="inbound_events")
    topic = models.CharField(max_length=64, blank=True)
    resource = models.CharField(max_length=32, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    delivery_id = models.CharField(max_length=64, blank=True)
    modified_gmt = models.CharField(max_length=32, blank=True, help_text="The payload's date_modified_gmt.")
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64)
    dedupe_key = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    reason = models.TextField(blank=True, help_text="Why it was rejected, ignored or failed.")
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["store", "resource", "resource_id"], name="inbound_resource_idx"),
            # The customer screen links each webhook actor to its delivery by the shop's delivery id
            # (console/views/customers.py ActorWords): without it, each screen read every delivery.
            models.Index(fields=["store", "delivery_id"], name="inbound_delivery_idx"),
        ]

    def __str__(self):
        return f"{self.topic or 'delivery'} #{self.pk} ({self.get_status_display()})"


class SyncRun(models.Model):
    """One REST backfill of a store: where it started, what it read, what that changed, how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (its worker stopped; a later run resumed)"

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="sync_runs")
    actor_ref = models.CharField(max_length=200, blank=True, help_text="Who started it (task, command).")
    started_from = models.DateTimeField(null=True, blank=True,
                                        help_text="The cursor it started from (empty: the shop's first order).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    pages = models.PositiveIntegerField(default=0)
    orders_seen = models.PositiveIntegerField(default=0)
    applied = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0, help_text="Not newer than the console's copy: nothing changed.")
    ignored = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Orders whose payload could not be read.")
    webhooks = models.JSONField(default=dict, blank=True,
                                help_text="The console's webhooks in the shop: ids, disabled ids, or the error.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Moves with every committed page (a heartbeat).")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.store.slug} sync #{self.pk} ({self.get_status_display()})"


class SyncCursor(models.Model):
    """Where a store's next backfill starts; it moves only in the transaction that commits a page.

    `modified_after` is the exclusive lower bound sent to WooCommerce: one second below the newest
    committed date_modified_gmt (see woocommerce/backfill.py for why), `page` the page of that query
    to read next (1 except when a whole page shares one second).
    """

    store = models.OneToOneField(StoreConnection, on_delete=models.CASCADE, related_name="sync_cursor")
    modified_after = models.DateTimeField(null=True, blank=True)
    page = models.PositiveIntegerField(default=1)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            help_text="The run moving this cursor now, if any.")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return f"{self.store.slug} cursor: after {self.modified_after or 'the beginning'}, page {self.page}"
