"""Configuration managers own: routing rules, exception policies, holidays (history kept)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from console.admin.base import AftercareAdmin, when_column
from lifecycle.models import ExceptionPolicy, Holiday, RoutingRule


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
