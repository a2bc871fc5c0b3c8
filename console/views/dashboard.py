"""The manager dashboard: ownership gaps, open exceptions, SLA, time to owner, repeat purchases; and
per team, rebalancing its queue and moving one agent's items to another (through the queue services).

Managers only (see everything + assign). The figures are one snapshot from
lifecycle.selectors.metrics, cached CACHE_SECONDS: some are scans over every open exception or a
20-week slice of customers, and a manager gains nothing from recomputing them on every load. A
rebalance or reassignment from here drops the snapshot, so the page shows its effect at once.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from unfold.widgets import UnfoldAdminSelectWidget

from console.admin.exception_actions import MAX_BATCH
from console.admin.exceptions import countdown
from console.views.dashboard_crm import crm_sync
from console.views.dashboard_health import health_section
from console.views.dashboard_journeys import dashboard_journeys
from lifecycle.actors import Actor
from lifecycle.models import OPEN_STATUSES, Agent, ExceptionCase, ExceptionKind, System, Team
from lifecycle.selectors import drift, metrics
from lifecycle.selectors.visibility import SEE_ALL
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.queues import ASSIGN, exceptions_reassign, queue_rebalance

MANAGER_PERMS = (SEE_ALL, ASSIGN)
CACHE_KEY = "console:dashboard:snapshot"
CACHE_SECONDS = 60  # figures a minute old are fresh for a dashboard; the slowest ones cost ~scans
PRIMARY, LIGHT, PALE = "var(--color-primary-600)", "var(--color-primary-400)", "var(--color-primary-200)"
# The drift trend's bars, one colour per system pair (named in the caption: the chart has no legend).
PAIR_COLORS = [(PRIMARY, _("dark")), (LIGHT, _("medium")), (PALE, _("light")),
               ("var(--color-orange-400)", _("orange")), ("var(--color-base-400)", _("grey"))]
RESOLVED_COLOR = ("var(--color-green-500)", _("green"))


def _require_manager(request):
    if not request.user.has_perms(MANAGER_PERMS):
        raise PermissionDenied("The dashboard is for managers.")


def snapshot(refresh=False):
    if refresh:
        cache.delete(CACHE_KEY)
    return cache.get_or_set(CACHE_KEY, lambda: metrics.dashboard(timezone.now()), CACHE_SECONDS)


class ReassignForm(forms.Form):
    team = forms.IntegerField(widget=forms.HiddenInput)
    from_agent = forms.TypedChoiceField(coerce=int, label=_("Move the open items of"), widget=UnfoldAdminSelectWidget)
    to_agent = forms.TypedChoiceField(coerce=int, label=_("To"), widget=UnfoldAdminSelectWidget)

    def __init__(self, *args, agents, **kwargs):
        """`agents`: [(id, label)], the team's agents (from the snapshot to render, the database to check)."""
        super().__init__(*args, **kwargs)
        self.fields["from_agent"].choices = agents
        self.fields["to_agent"].choices = agents

    def clean(self):
        data = super().clean()
        if data.get("from_agent") and data.get("from_agent") == data.get("to_agent"):
            raise forms.ValidationError(_("Pick two different agents."))
        return data


def _duration(delta):
    if delta is None:
        return "—"
    if abs(delta.total_seconds()) < 60:
        return f"{int(delta.total_seconds())} s"
    return ("-" if delta.total_seconds() < 0 else "") + countdown(delta)


def _percent(rate):
    return None if rate is None else round(100 * rate, 1)


def _chart(labels, *datasets):
    return json.dumps({"labels": [str(label) for label in labels], "datasets": list(datasets)})


def _dataset(label, data, color):
    # Unfold draws bars 4 px wide and overlapping (datasets on top of each other, the first in
    # front): wider here, and callers list the smaller series first so both stay visible.
    return {"label": str(label), "data": data, "backgroundColor": color, "borderColor": color, "maxBarThickness": 24}


def _kinds_shown(data):
    # Kinds with open exceptions; every kind (all at 0) when nothing is open, so the chart has axes.
    return [item for item in data.open.by_kind if item["count"]] or data.open.by_kind


def _charts(data):
    by_kind = _kinds_shown(data)
    queues, cohorts = data.open.by_queue, data.cohorts
    return {
        "kinds": _chart([i["label"] for i in by_kind], _dataset(_("Open"), [i["count"] for i in by_kind], PRIMARY)),
        "queues": _chart([q["label"] for q in queues],
                         _dataset(_("Unassigned"), [q["unassigned"] for q in queues], PRIMARY),
                         _dataset(_("Open"), [q["count"] for q in queues], PALE)),
        "ages": _chart([a["label"] for a in data.open.by_age],
                       _dataset(_("Open"), [a["count"] for a in data.open.by_age], PRIMARY)),
        "cohorts": _chart([date_format(c["week"], "DATE_FORMAT") for c in cohorts],
                          *[_dataset(_("%(n)d days") % {"n": n}, [_percent(c["rates"][n]) for c in cohorts], color)
                            for n, color in zip(metrics.REPEAT_WINDOWS, (PRIMARY, LIGHT, PALE), strict=False)]),
    }


def _figures(data, exceptions_url):
    """The numbers of each bar chart as a table beside it (what the bars show, readable and
    linkable; Unfold ships no data-labels plugin for Chart.js). Same lists as _charts."""
    kinds = [{"label": i["label"], "values": [i["count"]], "url": f"{exceptions_url}?kind__exact={i['kind']}"}
             for i in _kinds_shown(data)]
    queues = [{"label": q["label"], "values": [q["count"], q["unassigned"]],
               "url": f"{exceptions_url}?" + ("view=managers" if q["team_id"] is None
                                              else f"queue__id__exact={q['team_id']}")}
              for q in data.open.by_queue]
    ages = [{"label": a["label"], "values": [a["count"]], "url": None} for a in data.open.by_age]
    return {
        "kinds": {"name": "kinds", "label": _("Kind"), "headers": [_("Open")], "rows": kinds},
        "queues": {"name": "queues", "label": _("Queue"), "headers": [_("Open"), _("Unassigned")], "rows": queues},
        "ages": {"name": "ages", "label": _("Opened"), "headers": [_("Open")], "rows": ages},
    }


def _managers_queue(data, exceptions_url, now):
    """The managers' queue card: what waits there, how much is late, how long the oldest has waited."""
    figures = data.open.managers
    oldest = figures.get("oldest")
    return {**figures, "oldest_age": _duration(now - oldest) if oldest else None,
            "url": f"{exceptions_url}?view=managers"}


def _pair_label(pair):
    """(label, note) of a system pair, in the systems' display names: ("WooCommerce ↔ ERP", ""); a
    refused move is its system against the console, the note saying what that means."""
    names = dict(System.choices)
    side_a, side_b = pair
    if side_b == drift.CONSOLE:
        return (_("%(system)s ↔ console") % {"system": names.get(side_a, side_a or _("Its system"))},
                _("(a move the order's states do not allow)"))
    if side_a is None and side_b is None:
        return _("No system pair recorded"), ""
    return f"{names.get(side_a, side_a)} ↔ {names.get(side_b, side_b)}", ""


def _orphans(n):
    """Orders one system reports and the other has not (the ERP's orphans), among a pair's mismatches."""
    return ngettext("%(n)d of them reported by one system only", "%(n)d of them reported by one system only",
                    n) % {"n": n} if n else ""


def _drift(data, exceptions_url, now):
    """The drift section: open mismatches per system pair (ages in words), and the trend chart with
    its numbers. The exception list has no filter by pair: each pair links to every open mismatch."""
    figures = data.drift or drift.Drift()
    kind = ExceptionKind.STATE_MISMATCH
    pairs = [{**p, "label": label, "note": note or _orphans(p["orphans"]), "oldest_age": _duration(now - p["oldest"]),
              "median_age": _duration(now - p["middle"])}
             for p in figures.open for label, note in [_pair_label(p["pair"])]]
    total = sum(item["count"] for item in data.open.by_kind if item["kind"] == kind)
    days = [date_format(day, "M j") for day in figures.days]
    zeros = [0] * len(days)
    # (row label, note, counts, colour, in the caption): a series per pair opened (one of zeros when
    # none), then resolved
    series = [(_("Opened: %(pair)s") % {"pair": label}, note, counts, PAIR_COLORS[i % len(PAIR_COLORS)],
               _("opened, %(pair)s") % {"pair": f"{label} {note}".strip()})
              for i, (pair, counts) in enumerate(figures.opened.items()) for label, note in [_pair_label(pair)]]
    series = series or [(_("Opened"), "", zeros, PAIR_COLORS[0], _("opened"))]
    series.append((_("Resolved"), "", figures.resolved or zeros, RESOLVED_COLOR, _("resolved")))
    # Side by side per day (Unfold overlaps a chart's datasets: opened and resolved would hide each other),
    # and a date every other day on the axis (the table under the chart has each).
    datasets = [{**_dataset(f"{label} {note}".strip(), counts, color), "grouped": True, "maxTicksXLimit": 7}
                for label, note, counts, (color, _word), _caption in series]
    return {
        "pairs": pairs, "active_rules": figures.active_rules, "total": total,
        "counted_twice": sum(p["count"] for p in pairs) > total,
        "url": f"{exceptions_url}?kind__exact={kind}", "late_url": f"{exceptions_url}?view=breached&kind__exact={kind}",
        "rules_url": reverse("admin:lifecycle_tolerancerule_changelist"),
        "chart": json.dumps({"labels": days, "datasets": datasets}),
        "legend": [(word, caption) for *_row, (_color, word), caption in series],
        "figures": {"name": "drift-trend", "label": _("Per day"), "headers": days,
                    "rows": [{"label": label, "note": note, "values": counts, "url": None}
                             for label, note, counts, *_rest in series]},
    }


def _team_blocks(data):
    blocks = []
    for team in data.teams:
        agents = [(a["id"], f"{a['name']} ({a['in_queue']} in queue)") for a in team["agents"]]
        initial = {"team": team["id"], "to_agent": agents[1][0] if len(agents) > 1 else None}
        form = ReassignForm(agents=agents, initial=initial, auto_id=f"id_team{team['id']}_%s")
        blocks.append({**team, "form": form})
    return blocks


def dashboard(request):
    _require_manager(request)
    data = snapshot(refresh=request.GET.get("refresh") == "1")
    exceptions_url = reverse("admin:lifecycle_exceptioncase_changelist")
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "data": data,
        "charts": _charts(data),
        "figures": _figures(data, exceptions_url),
        "managers_queue": _managers_queue(data, exceptions_url, timezone.now()),
        "breach_percent": _percent(data.breach["rate"]),
        "to_team": _duration(data.time_to_owner["to_team"]),
        "to_agent": _duration(data.time_to_owner["to_agent"]),
        "cohort_rows": [{**c, "rates": [_percent(c["rates"][n]) for n in metrics.REPEAT_WINDOWS]}
                        for c in data.cohorts],
        "windows": metrics.REPEAT_WINDOWS,
        "team_blocks": _team_blocks(data),
        "drift": _drift(data, exceptions_url, timezone.now()),
        "crm": crm_sync(request.user, timezone.now(), refresh=request.GET.get("refresh") == "1"),
        "health": health_section(refresh=request.GET.get("refresh") == "1"),
        "journeys": dashboard_journeys(refresh=request.GET.get("refresh") == "1"),
        "cache_seconds": CACHE_SECONDS,
        "exceptions_url": exceptions_url,
    }
    return TemplateResponse(request, "console/dashboard.html", context)


def _team(request):
    try:
        return get_object_or_404(Team, pk=int(request.POST.get("team", "")))
    except ValueError:
        raise Http404("No such team.") from None


def _back(team_id=None):
    return redirect(reverse("console:dashboard") + (f"#team-{team_id}" if team_id else ""))


@require_POST
def rebalance(request):
    _require_manager(request)
    team = _team(request)
    try:
        given = queue_rebalance(team=team, actor=Actor.for_user(request.user))
    except (ServiceError, PermissionDenied) as error:
        messages.error(request, f"{team}: {error}")
    else:
        moved = sum(given.values())
        messages.success(request, _("%(team)s: queue rebalanced, %(n)d exception(s) moved across %(agents)d agent(s).")
                         % {"team": team, "n": moved, "agents": len(given)})
        cache.delete(CACHE_KEY)
    return _back(team.pk)


@require_POST
def reassign(request):
    _require_manager(request)
    team = _team(request)
    agents = {a.pk: a for a in Agent.objects.filter(teams=team).select_related("user")}
    form = ReassignForm(request.POST, agents=[(pk, str(a)) for pk, a in agents.items()])
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"{team}: {' '.join(errors)}")
        return _back(team.pk)
    source, target = agents[form.cleaned_data["from_agent"]], agents[form.cleaned_data["to_agent"]]
    held = ExceptionCase.objects.filter(queue=team, assignee=source, status__in=OPEN_STATUSES)
    batch = list(held.order_by("opened_at", "id")[:MAX_BATCH])  # one transaction each: keep the request short
    assigned, refused = exceptions_reassign(exceptions=batch, agent=target, actor=Actor.for_user(request.user))
    if assigned:
        messages.success(request, _("%(team)s: moved %(n)d exception(s) from %(source)s to %(target)s.")
                         % {"team": team, "n": len(assigned), "source": source, "target": target})
    elif not refused:
        messages.info(request, _("%(source)s holds no open exception in the %(team)s queue.")
                      % {"source": source, "team": team})
    for pk, reason in list(refused.items())[:5]:
        messages.warning(request, f"#{pk}: {reason}")
    if len(batch) == MAX_BATCH and held.exclude(pk__in=list(refused)).exists():
        messages.info(request, _("More remain: submit again to move the next %(n)d.") % {"n": MAX_BATCH})
    cache.delete(CACHE_KEY)
    return _back(team.pk)


dashboard_view = admin.site.admin_view(dashboard)
rebalance_view = admin.site.admin_view(rebalance)
reassign_view = admin.site.admin_view(reassign)
