"""Who owns whom. The Ownership row and the Handoff history are written only by the ownership
services (one row lock, one handoff per change), so here they are read-only; customers are
reassigned with the "Reassign owner" action. Stage owners are configuration managers edit."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import display

from console.admin.base import AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, when_column
from console.admin.orders import customer_column
from console.admin.filters import HandoffToAgentFilter, HandoffToTeamFilter, OwnershipAgentFilter, OwnershipTeamFilter
from lifecycle.models import Handoff, Ownership, StagePolicy

HANDOFF_RELATED = ["customer", "from_team", "from_agent__user", "to_team", "to_agent__user"]
HANDOFF_FIELDS = [
    "created_at", "customer", "from_team", "from_agent", "to_team", "to_agent", "reason", "rule", "detail",
    "actor", "actor_user",
]

OWNER_SINCE = when_column("since")  # a column and the row's link: the same object in both lists


def _owner(team, agent):
    if team is None:
        return _("nobody")
    return f"{team} / {agent or _('unassigned')}"


class HandoffInline(ViewOnlyMixin, TabularInline):
    model = Handoff
    fields = [when_column("created_at", _("when")), "from_owner", "to_owner", "reason", "rule", "actor"]
    readonly_fields = fields
    extra = 0
    per_page = 10
    tab = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*HANDOFF_RELATED[1:])

    @display(description=_("from"))
    def from_owner(self, obj):
        return _owner(obj.from_team, obj.from_agent)

    @display(description=_("to"))
    def to_owner(self, obj):
        return _owner(obj.to_team, obj.to_agent)

    @display(description=_("actor"))
    def actor(self, obj):
        return obj.actor_label


@admin.register(Ownership)
class OwnershipAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = [customer_column, "team", "agent", OWNER_SINCE, "last_reason"]
    list_display_links = [OWNER_SINCE]  # the customer cell opens the customer screen; the row opens from here
    list_filter = [OwnershipTeamFilter, OwnershipAgentFilter, ("agent", admin.EmptyFieldListFilter)]
    search_fields = ["customer__display_name", "customer__email", "team__name", "agent__user__username"]
    list_select_related = ["customer", "team", "agent__user", "last_handoff"]
    fields = ["customer", "team", "agent", "since", "last_handoff", "last_reason"]
    readonly_fields = fields

    @display(description=_("last handoff reason"))
    def last_reason(self, obj):
        return obj.last_handoff.reason if obj.last_handoff else None


@admin.register(Handoff)
class HandoffAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("created_at", _("when")), customer_column, "from_owner", "to_owner", "reason", "rule",
                    "actor"]
    list_filter = [HandoffToTeamFilter, HandoffToAgentFilter, "actor_kind", ("created_at", RangeDateTimeFilter)]
    search_fields = ["customer__display_name", "customer__email", "reason", "rule"]
    search_help_text = _("Customer name or email, reason, rule.")
    list_select_related = HANDOFF_RELATED
    fields = HANDOFF_FIELDS
    readonly_fields = HANDOFF_FIELDS

    @display(description=_("from"))
    def from_owner(self, obj):
        return _owner(obj.from_team, obj.from_agent)

    @display(description=_("to"))
    def to_owner(self, obj):
        return _owner(obj.to_team, obj.to_agent)

    @display(description=_("actor"), ordering="actor_kind")
    def actor(self, obj):
        return obj.actor_label


@admin.register(StagePolicy)
class StagePolicyAdmin(SimpleHistoryAdmin, AftercareAdmin):
    """Which team owns each stage; its history shows who changed routing and when."""

    list_display = ["stage", "team"]
    list_select_related = ["team"]
    fields = ["stage", "team"]

    def get_readonly_fields(self, request, obj=None):
        # A policy is the row of its stage: pick another team, never another stage.
        return ["stage"] if obj else []
