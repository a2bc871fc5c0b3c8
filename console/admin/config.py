"""Configuration managers own: routing rules, exception policies, holidays, reconciliation tolerances
(history kept), and where the last reconciliation run stopped (read only)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from console.admin.base import AftercareAdmin, when_column
from lifecycle.models import ExceptionPolicy, Holiday, ReconcileWatermark, RoutingRule, ToleranceRule


@admin.register(RoutingRule)
class RoutingRuleAdmin(SimpleHistoryAdmin, AftercareAdmin):
    list_display = ["name", "priority", "stage", "store", "country", "min_order_total", "customer_tag", "team",
                    "is_active"]
    list_filter = ["is_active", "stage", "team"]
    list_editable = ["priority", "is_active"]
    list_select_related = ["team"]
    search_fields = ["name", "store", "country", "customer_tag", "product_category"]
    fieldsets = [
        (None, {"fields": ["name", "team", "priority", "is_active"]}),
        ("Conditions (empty matches anything)", {"fields": [
            "stage", "store", "country", "min_order_total", "max_order_total", "product_category", "customer_tag"]}),
    ]


@admin.register(ExceptionPolicy)
class ExceptionPolicyAdmin(SimpleHistoryAdmin, AftercareAdmin):
    list_display = ["kind", "queue", "route_to_owner_team", "sla_minutes", "business_hours", "severity"]
    list_select_related = ["queue"]
    fields = ["kind", "queue", "route_to_owner_team", "sla_minutes", "business_hours", "severity"]

    def get_readonly_fields(self, request, obj=None):
        return ["kind"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # every kind keeps a policy; change it instead


@admin.register(Holiday)
class HolidayAdmin(AftercareAdmin):
    list_display = [when_column("date"), "name", "team"]
    list_filter = ["team"]
    list_select_related = ["team"]
    date_hierarchy = "date"
    search_fields = ["name"]


@admin.register(ToleranceRule)
class ToleranceRuleAdmin(SimpleHistoryAdmin, AftercareAdmin):
    """How long two systems may disagree about an order before a `state_mismatch` opens: a saved
    change makes the next reconciliation run a full one."""

    list_display = ["sentence", "left_system", "right_system", "condition", "window_minutes", "active"]
    list_filter = ["active", "left_system", "right_system", "condition"]
    list_editable = ["window_minutes", "active"]
    search_fields = ["sentence"]
    fieldsets = [
        (None, {"fields": ["sentence", "left_system", "right_system", "condition", "window_minutes", "active"]}),
        ("States (when the condition compares states)", {"fields": [
            "left_states", "right_states", "right_match", "right_absent_counts"]}),
        ("Amounts (when the condition compares totals)", {"fields": ["amount_tolerance"]}),
    ]


@admin.register(ReconcileWatermark)
class ReconcileWatermarkAdmin(AftercareAdmin):
    """Read only: the last run, what it compared and what it changed."""

    list_display = [when_column("last_run_at", "last run"), when_column("last_full_at", "last full pass"),
                    "evaluated", "opened", "updated", "resolved"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
