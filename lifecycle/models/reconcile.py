"""Reconciliation config and state: how long two systems may disagree about an order (data that
managers edit, with history), and where the last reconciliation run stopped.

A rule names a system pair, left → right. The left system leads: its newest status (or total)
starting the condition, the window counts from when the left system reported it. A CRM pair is
one more row, never code (lifecycle/services/reconcile.py reads whatever rows are active).
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from lifecycle import statuses
from lifecycle.models.orders import OrderState, System


class ToleranceRule(models.Model):
    """Left says one thing, right another, for longer than the window: a `state_mismatch`."""

    class Condition(models.TextChoices):
        STATES = "states", "Canonical states disagree"
        AMOUNTS = "amounts", "Totals differ"

    class Match(models.TextChoices):
        ANY = "any", "is one of the right states"
        NONE = "none", "is none of the right states"

    left_system = models.CharField(max_length=16, choices=System.choices)
    right_system = models.CharField(max_length=16, choices=System.choices)
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.STATES)
    left_states = models.JSONField(
        default=list, blank=True,
        help_text="States: the left system's canonical states that start the condition (e.g. [\"paid\"]).")
    right_states = models.JSONField(
        default=list, blank=True, help_text="States: the right system's canonical states the match below compares.")
    right_match = models.CharField(
        max_length=8, choices=Match.choices, default=Match.NONE,
        help_text="States: it is a disagreement when the right system's state … (e.g. is none of [\"fulfilling\", …]).")
    right_absent_counts = models.BooleanField(
        default=False, help_text="States: an order the right system has not reported at all disagrees too.")
    amount_tolerance = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.01"),
        help_text="Amounts: totals (in the order's currency) may differ by this much.")
    window_minutes = models.PositiveIntegerField(
        default=0, help_text="How long after the left system reported it the right one may still disagree; 0: at once.")
    active = models.BooleanField(default=True)
    sentence = models.CharField(max_length=200, help_text="The rule in words, as the exception shows it.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["left_system", "right_system", "window_minutes", "id"]

    def __str__(self):
        return self.sentence

    def clean(self):
        if self.left_system == self.right_system:
            raise ValidationError("A rule compares two different systems.")
        for name in ("left_states", "right_states"):
            value = getattr(self, name)
            if not isinstance(value, list) or any(s not in statuses.CANONICAL_STATES for s in value):
                raise ValidationError({name: f"A list of canonical states: {', '.join(OrderState.values)}."})
        if self.condition == self.Condition.STATES and not self.left_states:
            raise ValidationError({"left_states": "Name the left system's states that start the condition."})
        if self.condition == self.Condition.STATES and self.right_match == self.Match.ANY and not self.right_states:
            raise ValidationError({"right_states": "Name the right system's states that disagree."})
        if self.amount_tolerance is not None and self.amount_tolerance < 0:
            raise ValidationError({"amount_tolerance": "A tolerance is zero or more."})


class ReconcileWatermark(models.Model):
    """The one row saying where the last reconciliation run stopped: the next incremental run looks
    at source states received since, and at windows that expired since."""

    last_run_at = models.DateTimeField(null=True, blank=True, help_text="The moment the last run compared.")
    last_full_at = models.DateTimeField(null=True, blank=True)
    # What the last run compared with (active rules and status meanings): when it changes, the next
    # run is a full one, since every order may now read differently.
    fingerprint = models.CharField(max_length=64, blank=True)
    evaluated = models.PositiveIntegerField(null=True, blank=True, help_text="Orders the last run compared "
                                                                             "(empty: a full pass).")
    opened = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "reconciliation watermark"

    def __str__(self):
        return f"reconciled up to {self.last_run_at or 'never'}"


O = OrderState
# Issue 13's defaults: (left, right, condition, left states, right match, right states, window, sentence).
# "Released to deliver" is the ERP's fulfilling and every state past it; "closed" is what an ERP's
# mapping gives a closed order (cancelled). The shop's "processing" is paid.
_RELEASED = [O.FULFILLING, O.SHIPPED, O.DELIVERED, O.COMPLETED]
_DELIVERED = [O.DELIVERED, O.COMPLETED]
_PAID = [O.PAID, *_RELEASED]  # money taken and kept
DEFAULT_TOLERANCE_RULES = [
    ("woocommerce", "erp", "states", [O.PAID], "none", _RELEASED + [O.CANCELLED, O.REFUNDED], 120,
     "The shop says paid, and the ERP has not released it for delivery after 2 hours"),
    ("woocommerce", "erp", "states", [O.COMPLETED], "none", _DELIVERED, 48 * 60,
     "The shop says completed, and the ERP has not delivered it after 48 hours"),
    ("erp", "woocommerce", "states", [O.CANCELLED], "any", [O.PAID, O.FULFILLING, O.SHIPPED], 0,
     "The ERP cancelled or closed it, and the shop is still processing it"),
    ("erp", "woocommerce", "states", _DELIVERED, "none", [O.COMPLETED, O.REFUNDED, O.PARTIALLY_REFUNDED], 24 * 60,
     "The ERP delivered it, and the shop has not completed it after 24 hours"),
    ("woocommerce", "erp", "amounts", [], "none", [], 0,
     "The shop's and the ERP's totals differ by more than 0.01 in the order's currency"),
    # Issue 14: the CRM's deal stage (its meaning under the connection's deal stage mapping) and the
    # order, compared once the shop has taken the money; a deal is won a day after at the latest.
    ("woocommerce", "crm", "states", _PAID, "none", _PAID + [O.PARTIALLY_REFUNDED], 24 * 60,
     "The CRM's deal stage disagrees with the paid order 24 hours after the shop said it was paid"),
]


def install_tolerance_rules(apps):
    """The default rules, once (a data migration; tests that flush the database). Idempotent: a
    rule whose sentence exists is left as its managers edited it."""
    rule_model = apps.get_model("lifecycle", "ToleranceRule")
    for left, right, condition, left_states, match, right_states, window, sentence in DEFAULT_TOLERANCE_RULES:
        rule_model.objects.get_or_create(sentence=sentence, defaults={
            "left_system": left, "right_system": right, "condition": condition,
            "left_states": [str(s) for s in left_states], "right_states": [str(s) for s in right_states],
            "right_match": match, "window_minutes": window, "amount_tolerance": Decimal("0.01"),
        })
