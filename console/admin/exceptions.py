"""The queues: open exceptions by view (mine, my teams', unassigned, breached, managers'), with SLA countdowns.

Nothing is edited in a form: every change is an action or a button that calls a queue service.
"""

import json

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from console.admin import exception_actions
from console.admin.base import AftercareAdmin, VisibleToUserMixin, when_column
from console.admin.customers import customer_screen_url
from console.admin.orders import customer_column
from integrations.models import InboundEvent
from console.claiming import claim_next_response
from lifecycle.models import CLOSED_STATUSES, OPEN_STATUSES, Agent, Customer, ExceptionCase, Order, Severity, Team
from lifecycle.selectors.visibility import exceptions_visible_to
from lifecycle.services.queues import ASSIGN, DISMISS

WORK = "lifecycle.change_exceptioncase"


class QueueView(admin.SimpleListFilter):
    title = _("queue view")
    parameter_name = "view"

    def lookups(self, request, model_admin):
        return [("mine", _("My queue")), ("team", _("Team queue")), ("unassigned", _("Unassigned")),
                ("breached", _("Breached")), ("managers", _("Managers' queue")), ("closed", _("Closed"))]

    def queryset(self, request, queryset):
        view = self.value()
        if view == "closed":
            return queryset.filter(status__in=CLOSED_STATUSES)
        queryset = queryset.filter(status__in=OPEN_STATUSES)  # every other view shows open work only
        if view == "mine":
            return queryset.filter(assignee__user=request.user)
        if view == "team":
            # By team ids, not a join through memberships: no duplicate rows, so no DISTINCT.
            return queryset.filter(queue_id__in=Agent.teams.through.objects.filter(agent__user=request.user)
                                   .values("team_id"))
        if view == "unassigned":
            return queryset.filter(assignee__isnull=True)
        if view == "breached":
            return queryset.filter(breached_at__isnull=False)
        if view == "managers":
            return queryset.filter(queue__isnull=True)
        return queryset


# Evidence keys that name a row: key -> (label, model, field the value matches). Any other key reads
# as capfirst(key with spaces) and its value as text.
EVIDENCE_REFERENCES = {
    "team_id": (_("Team"), Team, "pk"),
    "by_id": (_("Customer found by account id"), Customer, "pk"),
    "by_email": (_("Customer found by email"), Customer, "pk"),
    "event_id": (_("Delivery"), InboundEvent, "pk"),
    "example_order": (_("Example order"), Order, "number"),
}


def evidence_text(value):
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def evidence_references(request, admin_site, evidence):
    """{(model, field): {value: (text, url or None)}} for the referenced rows the user may see: one query
    per (model, field), through the model's admin queryset (so an agent reads only their teams' customers)."""
    wanted = {}
    for key, value in evidence.items():
        if key in EVIDENCE_REFERENCES and isinstance(value, (int, str)) and not isinstance(value, bool):
            _label, model, field = EVIDENCE_REFERENCES[key]
            wanted.setdefault((model, field), set()).add(value)
    found = {}
    for (model, field), values in wanted.items():
        model_admin = admin_site._registry.get(model)
        if model_admin is None or not model_admin.has_view_permission(request):
            continue
        rows = {}
        for row in model_admin.get_queryset(request).filter(**{f"{field}__in": values}):
            if model is Customer:
                link = customer_screen_url(row.pk)
            else:
                link = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[row.pk])
            rows.setdefault(str(getattr(row, field)), (str(row), link))
        found[model, field] = rows
    return found


def evidence_html(request, admin_site, evidence):
    """The evidence as labelled fields for people; the raw JSON one click away for operators."""
    raw = format_html("<details class='mt-2'><summary class='cursor-pointer text-xs text-base-500'>{}</summary>"
                      "<pre class='whitespace-pre-wrap text-xs'>{}</pre></details>", _("Raw JSON"),
                      json.dumps(evidence, indent=2, ensure_ascii=False))
    if not isinstance(evidence, dict) or not evidence:
        return raw
    references = evidence_references(request, admin_site, evidence)
    rows = []
    for key, value in evidence.items():
        label, text, link = capfirst(key.replace("_", " ")), evidence_text(value), None
        if key in EVIDENCE_REFERENCES:
            label, model, field = EVIDENCE_REFERENCES[key]
            text, link = references.get((model, field), {}).get(str(value), (text, None))
        cell = format_html("<a href='{}' class='text-primary-600 dark:text-primary-500'>{}</a>", link, text) \
            if link else text
        rows.append((label, cell))
    fields = format_html_join("", "<dt class='font-semibold'>{}</dt><dd class='mb-1 break-words'>{}</dd>", rows)
    return format_html("<dl class='evidence text-sm'>{}</dl>{}", fields, raw)


def countdown(delta):
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {mins:02d}m"


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(VisibleToUserMixin, AftercareAdmin):
    list_display = ["kind_label", "summary", customer_column, "queue_label", "assignee", "severity_label", "sla",
                    "status", when_column("opened_at", _("opened"))]
    list_filter = [QueueView, "kind", "severity", "queue", "status"]
    list_select_related = ["customer", "queue", "assignee__user"]
    search_fields = ["summary", "subject_key", "customer__display_name", "customer__email", "order__number"]
    ordering = ["due_at", "opened_at"]
    actions = [exception_actions.claim, exception_actions.release, exception_actions.resolve,
               exception_actions.dismiss, exception_actions.assign]
    actions_list = ["claim_next"]
    readonly_fields = ["kind", "subject_key", "summary", "customer", "order", "queue", "assignee", "severity",
                       "status", "due_at", "breached_at", "escalated_from", "opened_at", "claimed_at", "closed_at",
                       "occurrences", "reopened_count", "resolution_reason", "evidence_fields"]
    exclude = ["evidence"]

    def visible_to(self, user, queryset):
        # An exception is seen through its queue and assignee as well as its customer.
        return exceptions_visible_to(user, queryset)

    def has_add_permission(self, request):
        return False  # raised by the systems that detect the problem, never typed in

    def has_change_permission(self, request, obj=None):
        return False  # the form is read-only; actions change state through services

    def has_delete_permission(self, request, obj=None):
        return False

    def has_work_permission(self, request):
        return request.user.has_perm(WORK)

    def has_assign_permission(self, request):
        return request.user.has_perm(ASSIGN)

    def has_dismiss_permission(self, request):
        return request.user.has_perm(DISMISS)

    @display(description=_("Kind"), ordering="kind")
    def kind_label(self, obj):
        return obj.get_kind_display()

    @display(description=_("Queue"), ordering="queue__name")
    def queue_label(self, obj):
        return obj.queue or _("Managers")

    @display(description=_("Severity"), ordering="severity", label={
        Severity.LOW.label: "info", Severity.NORMAL.label: "info", Severity.HIGH.label: "warning",
        Severity.CRITICAL.label: "danger"})
    def severity_label(self, obj):
        return obj.get_severity_display()

    @display(description=_("SLA"), ordering="due_at")
    def sla(self, obj):
        if not obj.is_open or obj.due_at is None:
            return "—"
        delta = obj.due_at - timezone.now()
        if delta.total_seconds() < 0:
            return format_html('<span class="text-red-600 font-semibold">overdue {}</span>', countdown(delta))
        return f"due in {countdown(delta)}"

    def get_readonly_fields(self, request, obj=None):
        # The evidence links what this user may open: a function of this request, not state on the
        # (shared) admin instance.
        @display(description=_("Evidence"))
        def evidence(case):
            return evidence_html(request, self.admin_site, case.evidence)

        return [evidence if name == "evidence_fields" else name for name in super().get_readonly_fields(request, obj)]

    @display(description=_("Evidence"))
    def evidence_fields(self, obj):
        # Named in readonly_fields for the checks; get_readonly_fields puts the request's version in its place.
        return format_html("<pre class='whitespace-pre-wrap text-xs'>{}</pre>",
                           json.dumps(obj.evidence, indent=2, ensure_ascii=False))

    @action(description=_("Claim next"), icon="playlist_add_check", permissions=["work"])
    def claim_next(self, request):
        if request.method != "POST":
            # A link must not change anything: GET asks, the button POSTs.
            return TemplateResponse(request, "admin/lifecycle/exceptioncase/claim_next.html", {
                **self.admin_site.each_context(request), "title": _("Claim the next item"), "opts": self.model._meta,
            })
        return claim_next_response(request, otherwise=reverse("admin:lifecycle_exceptioncase_changelist"))
