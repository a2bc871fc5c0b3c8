"""Teams own customers; agents are the people inside them."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


def default_capacity():
    return settings.AFTERCARE_DEFAULT_AGENT_CAPACITY


class Team(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=40, unique=True)
    description = models.TextField(blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
        help_text="Receives this team's escalations.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Agent(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    teams = models.ManyToManyField(Team, related_name="agents", blank=True)
    capacity = models.PositiveSmallIntegerField(default=default_capacity, help_text="Most open items at once.")
    is_available = models.BooleanField(default=True, help_text="On shift: can receive new customers.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self):
        return self.user.get_full_name() or self.user.get_username()

    @property
    def is_active(self):
        return self.user.is_active
