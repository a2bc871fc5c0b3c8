"""Teams and agents: configuration managers edit (Team keeps its history)."""

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import display

from console.admin.actions import mark_available, mark_away, report_availability, set_availability
from console.admin.base import AftercareAdmin
from lifecycle.actors import Actor
from lifecycle.models import Agent, Ownership, Team
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.queues import ASSIGN, queue_rebalance
from lifecycle.services.room import room_made


def _count(queryset, field):
    """A correlated COUNT per team: two JOIN+COUNTs would multiply agents by customers."""
    counted = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(Team)
class TeamAdmin(SimpleHistoryAdmin, AftercareAdmin):
    list_display = ["name", "slug", "manager", "agent_count", "customer_count"]
    search_fields = ["name", "slug"]
    list_select_related = ["manager"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "manager"]}),
        (_("Routing"), {"fields": ["routing_mode"]}),
        (_("Business hours (SLA clock)"), {"fields": ["time_zone", "work_days", "day_starts", "day_ends"]}),
    ]
    # Only when adding: the slug is read-only afterwards (and simple_history's history view reads this attribute).
    prepopulated_fields = {}
    actions = ["rebalance_queue"]
    autocomplete_fields = ["manager"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            agent_total=_count(Agent.teams.through.objects.all(), "team"),
            customer_total=_count(Ownership.objects.all(), "team"),
        )

    def has_rebalance_permission(self, request):
        return request.user.has_perm(ASSIGN)

    @admin.action(description=_("Rebalance queue across available agents"), permissions=["rebalance"])
    def rebalance_queue(self, request, queryset):
        actor = Actor.for_user(request.user)
        for team in queryset:
            try:
                given = queue_rebalance(team=team, actor=actor)
            except (ServiceError, PermissionDenied) as error:
                messages.error(request, f"{team}: {error}")
                continue
            messages.success(request, _("%(team)s: %(n)d exception(s) moved.") % {"team": team, "n": sum(given.values())})

    def get_readonly_fields(self, request, obj=None):
        # Code, fixtures and stage defaults refer to teams by slug: it is fixed once created.
        return ["slug"] if obj else []

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else {"slug": ["name"]}

    @display(description=_("agents"), ordering="agent_total")
    def agent_count(self, obj):
        return obj.agent_total

    @display(description=_("customers owned"), ordering="customer_total")
    def customer_count(self, obj):
        return obj.customer_total


@admin.register(Agent)
class AgentAdmin(AftercareAdmin):
    list_display = ["name", "username", "team_list", "capacity", "open_customers", "is_available", "active"]
    list_filter = ["teams", "is_available", "user__is_active"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]
    fields = ["user", "teams", "capacity", "is_available"]
    autocomplete_fields = ["user", "teams"]
    actions = [mark_available, mark_away]

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .select_related("user")
            .prefetch_related("teams")
            .annotate(open_total=Count("ownerships"))
        )

    def save_model(self, request, obj, form, change):
        if change and "is_available" in form.changed_data:
            # Saved as stored; changeform_view changes it through the service once the form's
            # transaction has committed, as the actions do: going away hands the agent's work on.
            obj.is_available = Agent.objects.values_list("is_available", flat=True).get(pk=obj.pk)
            request.availability_change = (obj, form.cleaned_data["is_available"])
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if {"capacity", "teams"} & set(form.changed_data):
            room_made(agent_ids=[form.instance.pk])  # more room, or new teams: waiting customers may reach them

    def changeform_view(self, request, *args, **kwargs):
        response = super().changeform_view(request, *args, **kwargs)  # its own transaction, committed
        change = getattr(request, "availability_change", None)
        if change is not None:
            agent, available = change
            changed, moves, refused = set_availability(request, [agent], available=available)
            report_availability(request, available=available, changed=changed, moves=moves, refused=refused)
        return response

    def get_readonly_fields(self, request, obj=None):
        # An agent is one person: moving the row to another user would rewrite who owned what.
        return ["user"] if obj else []

    @display(description=_("name"), ordering="user__first_name")
    def name(self, obj):
        return str(obj)

    @display(description=_("username"), ordering="user__username")
    def username(self, obj):
        return obj.user.get_username()

    @display(description=_("teams"))
    def team_list(self, obj):
        return ", ".join(team.name for team in obj.teams.all())

    @display(description=_("open customers"), ordering="open_total")
    def open_customers(self, obj):
        return obj.open_total

    @display(description=_("active user"), boolean=True, ordering="user__is_active")
    def active(self, obj):
        return obj.user.is_active
