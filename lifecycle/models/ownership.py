"""Who owns a customer: the current owner row, the append-only handoff history, stage defaults."""

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from lifecycle.models.base import ActorFields, AppendOnlyModel
from lifecycle.models.customers import Customer, Stage
from lifecycle.models.teams import Agent, Team


class Ownership(models.Model):
    """The customer's current owner: one team and, once assigned, one agent of that team.

    One row per customer, enforced by the unique constraint below: a second owner cannot be
    inserted, whatever the code does. Handoffs update this row under a row lock and append a
    Handoff in the same transaction.
    """

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="ownership")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="ownerships")
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="ownerships")
    since = models.DateTimeField(default=timezone.now)
    last_handoff = models.ForeignKey("Handoff", null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer"], name="one_owner_per_customer")]
        indexes = [models.Index(fields=["team", "agent"], name="ownership_team_agent_idx")]

    def __str__(self):
        return f"{self.team} / {self.agent or 'unassigned'}"


class Handoff(ActorFields, AppendOnlyModel):
    """One ownership change: from → to, why, by which rule, by whom. Never updated."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="handoffs")
    from_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    to_agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    rule = models.CharField(max_length=120, blank=True, help_text="The rule or policy that decided it.")
    detail = models.JSONField(default=dict, blank=True, help_text="How the decision was made.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="handoff_customer_time_idx"),
                   ActorFields.actor_user_index("handoff_actor_user_idx")]

    def __str__(self):
        return f"{self.from_team or '—'} → {self.to_team}"


class StagePolicy(models.Model):
    """The team that owns customers in a stage: a transition into the stage hands off to it."""

    stage = models.CharField(max_length=20, choices=Stage.choices, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="stage_policies")
    history = HistoricalRecords()

    class Meta:
        verbose_name = "stage owner"
        verbose_name_plural = "stage owners"
        ordering = ["stage"]

    def __str__(self):
        return f"{self.get_stage_display()} → {self.team}"
