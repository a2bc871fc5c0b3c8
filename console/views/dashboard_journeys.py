"""The dashboard's "Journey completion" card: journeys running, those ended in the last 30 days
(completed or early), the steps due then done on time, late or missed, the missed touchpoints open
in the queues, and the way to the journey map. Figures from lifecycle.selectors.journeys.completion, cached
as long as the dashboard's other figures."""

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from lifecycle.selectors.journeys import completion

CACHE_KEY = "console:dashboard:journeys"
CACHE_SECONDS = 60  # as console/views/dashboard.py: figures a minute old are fresh for a dashboard


def dashboard_journeys(refresh=False):
    """The card's figures (the open missed touchpoints it shows are the snapshot's count by kind)."""
    if refresh:
        cache.delete(CACHE_KEY)
    figures = cache.get_or_set(CACHE_KEY, lambda: completion(timezone.now()), CACHE_SECONDS)
    return {**figures, "completion_percent": _percent(figures["completion_rate"]),
            "on_time_percent": _percent(figures["on_time_rate"]), "map_url": reverse("console:journey_map"),
            "missed_url": reverse("admin:lifecycle_exceptioncase_changelist") + "?kind__exact=missed_touchpoint"}


def _percent(rate):
    return None if rate is None else round(100 * rate)
