"""The journey map (managers): NorthStar's "map of the first 30 days". For one playbook's journeys
that started in the last weeks: per step, per team and per weekly purchase cohort, the steps done on
time, late, missed and duplicated; and where customers went silent (the last step done before it).

Charts are Unfold's Chart.js components (served by Unfold, no CDN) built as the dashboard builds
its own, each with its numbers as a table under it.
"""

import json

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from console.views.dashboard import MANAGER_PERMS, _dataset
from lifecycle.selectors.journeys import journey_map
from lifecycle.services.errors import PermissionDenied

WEEKS = (4, 8, 12, 26)
DEFAULT_WEEKS = 12
# (figure, label, colour): on time green, late orange, missed red, duplicated the console's primary.
SERIES = [("on_time", _("On time"), "var(--color-green-500)"), ("late", _("Late"), "var(--color-orange-400)"),
          ("missed", _("Missed"), "var(--color-red-500)"), ("duplicated", _("Duplicated"), "var(--color-primary-600)")]
HEADERS = [label for _name, label, _color in SERIES] + [_("Upcoming"), _("Skipped")]


def _int(value, default=None):
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 10 else default


def _grouped(labels, rows):
    """Bars side by side per label (Unfold overlaps a chart's datasets otherwise)."""
    datasets = [{**_dataset(label, [row[name] for row in rows], color), "grouped": True}
                for name, label, color in SERIES]
    return json.dumps({"labels": [str(label) for label in labels], "datasets": datasets})


def _table(name, label, rows, labels, urls=None):
    return {"name": name, "label": label, "headers": HEADERS,
            "rows": [{"label": text, "url": (urls or {}).get(i),
                      "values": [row[n] for n, *_rest in SERIES] + [row["upcoming"], row["skipped"]]}
                     for i, (text, row) in enumerate(zip(labels, rows, strict=True))]}


def _percent(part, whole):
    return None if not whole else round(100 * part / whole)


def journey_map_page(request):
    if not request.user.has_perms(MANAGER_PERMS):
        raise PermissionDenied("The journey map is for managers.")
    weeks = _int(request.GET.get("weeks"), DEFAULT_WEEKS)
    weeks = weeks if weeks in WEEKS else DEFAULT_WEEKS
    data = journey_map(playbook_id=_int(request.GET.get("playbook")), weeks=weeks, now=timezone.now())
    step_labels = [s["name"] for s in data.steps]
    team_labels = [t["team"] for t in data.teams]
    week_labels = [date_format(c["week"], "DATE_FORMAT") for c in data.cohorts]
    cohorts = [{**c, "on_time_pct": _percent(c["on_time"], c["on_time"] + c["late"] + c["missed"]),
                "cells": [_percent_cell(c["by_step"].get(s["key"])) for s in data.steps]} for c in data.cohorts]
    abandoned_labels = [row["after"] or _("Before the first step") for row in data.abandoned]
    context = {
        **admin.site.each_context(request),
        "title": _("Journey map"),
        "data": data,
        "weeks": weeks, "week_choices": WEEKS,
        "charts": {
            "steps": _grouped(step_labels, data.steps),
            "teams": _grouped(team_labels, data.teams),
            "cohorts": _grouped(week_labels, data.cohorts),
            "abandoned": json.dumps({"labels": [str(label) for label in abandoned_labels], "datasets": [
                _dataset(_("Customers who went silent"), [row["journeys"] for row in data.abandoned],
                         "var(--color-red-500)")]}),
        },
        "figures": {
            "steps": _table("steps", _("Step"), data.steps, step_labels),
            "teams": _table("teams", _("Team"), data.teams, team_labels),
            "cohorts": _table("cohorts", _("Week of payment"), data.cohorts, week_labels),
            "abandoned": {"name": "abandoned", "label": _("Last step done"), "headers": [_("Customers")],
                          "rows": [{"label": label, "values": [row["journeys"]], "url": None}
                                   for label, row in zip(abandoned_labels, data.abandoned, strict=True)]},
        },
        "cohort_rows": cohorts,
        "playbook_url": reverse("admin:lifecycle_playbook_change", args=[data.playbook.pk]) if data.playbook else None,
        "exceptions_url": reverse("admin:lifecycle_exceptioncase_changelist") + "?kind__exact=missed_touchpoint",
    }
    return TemplateResponse(request, "console/journey_map.html", context)


def _percent_cell(rate):
    return None if rate is None else round(100 * rate)


journey_map_view = admin.site.admin_view(journey_map_page)

