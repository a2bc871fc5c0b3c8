"""Edges to the outside: store connections, status mappings, and every inbound event kept raw."""

from django.db import models
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integrations.crypto import EncryptedTextField, mask
from integrations.woocommerce.statuses import IGNORE
from lifecycle.models import OrderState

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
        indexes = [models.Index(fields=["store", "resource", "resource_id"], name="inbound_resource_idx")]

    def __str__(self):
        return f"{self.topic or 'delivery'} #{self.pk} ({self.status})"
