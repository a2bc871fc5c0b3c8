"""The dashboard's health section: how customers spread over the bands (a chart and its numbers, each
band linking to its scores), and per owning team its expansion candidates and its customers at risk,
the first few named and linked to their screens, with how many in all.

The figures come from lifecycle/selectors/health.py, cached as long as the dashboard's other figures
(the distribution counts every score; the lists read a window over the owners).
"""

import json

from django.core.cache import cache
from django.urls import reverse
from django.utils.translation import gettext as _

from lifecycle.models import Band
from lifecycle.selectors import health

CACHE_KEY = "console:dashboard:health"
# Each band's colour in the chart (its caption names them: the chart has no legend).
COLORS = {Band.INTERVENE: "var(--color-red-500)", Band.OPTIMIZE: "var(--color-orange-400)",
          Band.EXPAND: "var(--color-green-500)", "": "var(--color-base-400)"}


def _figures():
    return {"bands": health.band_distribution(), "teams": health.team_lists()}


def figures(refresh=False):
    from console.views.dashboard import CACHE_SECONDS  # the dashboard imports this module

    if refresh:
        cache.delete(CACHE_KEY)
    return cache.get_or_set(CACHE_KEY, _figures, CACHE_SECONDS)


def health_section(refresh=False):
    """The section's context: the chart, its numbers and the team lists."""
    data = figures(refresh)
    scores_url = reverse("admin:lifecycle_healthscore_changelist")
    total = sum(n for _band, _label, n in data["bands"]) or 1
    rows = [{"label": str(label).capitalize(), "values": [n, f"{100 * n / total:.1f} %"],
             "url": f"{scores_url}?band__exact={band}" if band else None} for band, label, n in data["bands"]]
    chart = {"labels": [row["label"] for row in rows], "datasets": [{
        "label": _("Customers"), "data": [n for *_rest, n in data["bands"]],
        "backgroundColor": [COLORS[band] for band, *_rest in data["bands"]], "maxBarThickness": 48}]}
    teams = [{**team, "expansion": [_linked(c) for c in team["expansion"]],
              "at_risk": [_linked(c) for c in team["at_risk"]]} for team in data["teams"].values()]
    return {
        "chart": json.dumps(chart), "scores_url": scores_url, "teams": teams,
        "figures": {"name": "health-bands", "label": _("Band"), "headers": [_("Customers"), _("Share")], "rows": rows},
    }


def _linked(customer):
    return {**customer, "url": reverse("console:customer", args=[customer["id"]])}
