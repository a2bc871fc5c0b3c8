"""Teams own customers; agents are the people inside them. A team's calendar sets its SLA clock."""

import zoneinfo
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords


def default_capacity():
    return settings.AFTERCARE_DEFAULT_AGENT_CAPACITY


def default_work_days():
    return [0, 1, 2, 3, 4]  # Monday to Friday (Python's weekday numbers)


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).")


class RoutingMode(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_LOADED = "least_loaded", "Least loaded"
    STICKY = "sticky", "Sticky (previous owner first)"


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
    routing_mode = models.CharField(max_length=16, choices=RoutingMode.choices, default=RoutingMode.LEAST_LOADED)
    # Round robin hands out numbered slots; the counter is bumped under the team row's lock, so
    # two workers routing at once can never take the same slot.
    rr_counter = models.PositiveBigIntegerField(default=0, editable=False)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    work_days = models.JSONField(default=default_work_days, help_text="Weekdays worked, Monday = 0.")
    day_starts = models.TimeField(default=time(9, 0))
    day_ends = models.TimeField(default=time(17, 0))
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["rr_counter"])

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


class Holiday(models.Model):
    """A day without business hours: for one team, or for every team when the team is empty."""

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["team", "date"], name="one_holiday_per_team_day")]

    def __str__(self):
        return f"{self.date}: {self.name}"
