"""The customer timeline: append-only history written by lifecycle/services/timeline.py.
Nobody adds, edits or deletes events here (the model refuses it too)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import display

from console.admin.base import AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, when_column
from console.admin.orders import customer_column
from lifecycle.models import TimelineEvent

EVENT_FIELDS = ["occurred_at", "customer", "order", "kind", "source", "summary", "data", "actor", "actor_user"]


class TimelineInline(ViewOnlyMixin, TabularInline):
    """The newest events on the customer page; the full history is the Timeline changelist."""

    model = TimelineEvent
    fields = [when_column("occurred_at", _("when")), "kind", "source", "summary", "actor"]
    readonly_fields = fields
    extra = 0
    per_page = 20
    tab = True
    verbose_name_plural = _("timeline")

    @display(description=_("actor"))
    def actor(self, obj):
        return obj.actor_label


@admin.register(TimelineEvent)
class TimelineEventAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("occurred_at", _("when")), customer_column, "kind", "source", "summary", "order",
                    "actor"]
    list_filter = [
        ("kind", ChoicesDropdownFilter), "source", "actor_kind", ("occurred_at", RangeDateTimeFilter),
    ]
    search_fields = ["summary", "kind", "customer__display_name", "customer__email", "order__number"]
    search_help_text = _("Summary, kind, customer name or email, order number.")
    list_select_related = ["customer", "order"]
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS

    @display(description=_("actor"), ordering="actor_kind")
    def actor(self, obj):
        return obj.actor_label
