"""Routing rules: which team takes a customer entering a stage, by segment. Managers edit them."""

from django.db import models
from simple_history.models import HistoricalRecords

from lifecycle.models.customers import Stage
from lifecycle.models.teams import Team


class RoutingRule(models.Model):
    """When every condition that is set matches, the customer goes to `team` (lowest priority first).

    Empty conditions match anything; a rule with no conditions overrides the stage default.
    """

    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    stage = models.CharField(max_length=20, choices=Stage.choices, blank=True, help_text="Empty: any stage.")
    store = models.CharField(max_length=64, blank=True, help_text="Store slug of the customer's orders.")
    country = models.CharField(max_length=2, blank=True)
    min_order_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    max_order_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    product_category = models.CharField(max_length=120, blank=True)
    customer_tag = models.CharField(max_length=64, blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="routing_rules")
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return f"{self.name} → {self.team}"
