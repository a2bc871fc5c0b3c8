"""Value-realization health: the policy managers edit (component weights, band thresholds, the churn
window; versioned), each customer's current score with its components, and the score's history.

A score is computed from the components DOMAIN.md names (lifecycle/services/health.py); a component
with no data is stored as missing and leaves the score (its weight is not counted), so missing data
never reads as healthy. A customer with no component at all has no score (null), not 0 or 100.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from lifecycle.models.base import AppendOnlyModel
from lifecycle.models.customers import Customer


class Band(models.TextChoices):
    INTERVENE = "intervene", "Intervene (below 40)"
    OPTIMIZE = "optimize", "Optimize (40 to 70)"
    EXPAND = "expand", "Expand (above 70)"


def default_weights():
    return {
        "repeat_orders": 25,
        "on_time_delivery": 20,
        "journey_on_time": 20,
        "open_exceptions": 15,
        "refunds": 10,
        "recent_activity": 10,
    }


class HealthPolicy(models.Model):
    """The one active row says how scores are computed; every save publishes a new version (its
    number is stored on each score), and the history keeps what earlier versions said."""

    weights = models.JSONField(default=default_weights, help_text="Component → weight (relative, ≥ 0).")
    intervene_below = models.PositiveSmallIntegerField(default=40, help_text="Scores below this: intervene.")
    expand_above = models.PositiveSmallIntegerField(default=70, help_text="Scores above this: expand.")
    churn_days = models.PositiveSmallIntegerField(
        default=120, help_text="No paid order and no activity for this many days: the customer churns.")
    delivery_days = models.PositiveSmallIntegerField(
        default=7, help_text="An order delivered or completed within this many days of payment was on time.")
    quiet_days = models.PositiveSmallIntegerField(
        default=14, help_text="Activity this recent counts in full; older, it fades to nothing at the churn window.")
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "health policies"

    def __str__(self):
        return f"Health policy v{self.version}"

    def clean(self):
        weights = self.weights if isinstance(self.weights, dict) else None
        expected = set(default_weights())
        if weights is None or set(weights) != expected or not all(
                isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()):
            # Not tied to the field: the admin's form edits the weights as one number field each.
            raise ValidationError("A weight of zero or more for each of: " + ", ".join(sorted(expected)) + ".")
        if not sum(weights.values()):
            raise ValidationError("At least one weight must be above zero.")
        if not self.intervene_below < self.expand_above <= 100:
            raise ValidationError({"expand_above": "Expand starts above intervene and at most at 100."})
        if self.churn_days is not None and self.quiet_days is not None and not 0 < self.quiet_days < self.churn_days:
            raise ValidationError({"quiet_days": "Fewer days than the churn window, and at least one."})


class HealthScore(models.Model):
    """A customer's current score. `components` maps each component to
    {"value": raw figure or null, "contribution": points or null, "missing": bool}."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="health")
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0–100; empty: no data at all.")
    band = models.CharField(max_length=16, choices=Band.choices, blank=True)
    components = models.JSONField(default=dict, blank=True)
    policy_version = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    # Set (set-based, by the events that matter) when the score needs recomputing; the debounced
    # recompute clears it. Null: up to date.
    stale_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["stale_since"], name="health_stale_idx", condition=Q(stale_since__isnull=False)),
            models.Index(fields=["band", "score"], name="health_band_idx"),
        ]

    def __str__(self):
        return f"{self.score if self.score is not None else '—'} ({self.band or 'no data'})"


class HealthSnapshot(AppendOnlyModel):
    """A score as it was computed, kept when it changed (the trend and the band changes read these)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="health_history", db_index=False)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    band = models.CharField(max_length=16, choices=Band.choices, blank=True)
    components = models.JSONField(default=dict, blank=True)
    policy_version = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["customer", "-computed_at"], name="health_history_customer_idx")]

    def __str__(self):
        return f"{self.customer_id}: {self.score} at {self.computed_at:%Y-%m-%d}"


class HealthWatermark(models.Model):
    """The one row of the health follower (lifecycle/services/health_follower.py): up to which
    timeline event it has read, the id ranges below that it found missing (events of transactions
    not committed yet when it read: read again until they appear or are given up), and what the
    last nightly recompute did."""

    last_event_id = models.BigIntegerField(default=0, help_text="The highest timeline event id read.")
    gaps = models.JSONField(default=list, blank=True,
                            help_text="Missing ids below it, read again: [first id, last id, first seen].")
    followed_at = models.DateTimeField(null=True, blank=True)
    followed = models.PositiveIntegerField(default=0, help_text="Events the last run read.")
    nightly_at = models.DateTimeField(null=True, blank=True, help_text="When the last full recompute started.")
    nightly_customers = models.PositiveIntegerField(null=True, blank=True)
    nightly_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = "health watermark"

    def __str__(self):
        return f"health followed up to event {self.last_event_id}"
