"""Orders and what each system last said about them. Everything here comes from the shop, the ERP
or the CRM through the order services (state is a protected FSM field), so the admin only shows it."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import display

from console.admin.base import AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, when_column
from lifecycle.models import Order, OrderSourceState, OrderState

O = OrderState
STATE_COLORS = {
    O.PENDING_PAYMENT: "info",
    O.ON_HOLD: "warning",
    O.PAID: "primary",
    O.FULFILLING: "primary",
    O.SHIPPED: "primary",
    O.DELIVERED: "success",
    O.COMPLETED: "success",
    O.CANCELLED: "danger",
    O.REFUNDED: "danger",
    O.PARTIALLY_REFUNDED: "warning",
    O.FAILED: "danger",
    O.DELETED: "danger",
}


@display(description=_("customer"), ordering="customer__display_name")
def customer_column(obj):
    """A list's customer cell: the name, linking to the console's customer screen (not the admin record)."""
    if obj.customer_id is None:
        return None
    return format_html('<a href="{}" class="font-semibold text-primary-600 dark:text-primary-500">{}</a>',
                       reverse("console:customer", args=[obj.customer_id]), obj.customer)


ORDER_FIELDS = [
    "number", "customer", "state", "state_changed_at", "total", "refunded_total", "currency",
    "placed_at", "paid_at", "system", "namespace", "external_id", "created_at", "updated_at",
]


def _state_label(order):
    return order.state, order.get_state_display()


class OrderSourceStateInline(ViewOnlyMixin, TabularInline):
    model = OrderSourceState
    fields = ["system", "raw_status", when_column("observed_at", _("observed")), "event_ref",
              when_column("received_at", _("received"))]
    readonly_fields = fields
    extra = 0


class OrderInline(ViewOnlyMixin, TabularInline):
    """The customer's orders, newest first, on the customer page."""

    model = Order
    fields = ["number", "state_label", "total", "currency", when_column("placed_at", _("placed")),
              when_column("paid_at", _("paid"))]
    readonly_fields = fields
    extra = 0
    per_page = 10
    tab = True
    show_change_link = True

    @display(description=_("state"), label=STATE_COLORS)
    def state_label(self, obj):
        return _state_label(obj)


@admin.register(Order)
class OrderAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = ["number", customer_column, "state_label", "total_display", when_column("placed_at", _("placed")),
                    when_column("paid_at", _("paid")), "system", "namespace"]
    list_filter = [("state", ChoicesDropdownFilter), "system", ("placed_at", RangeDateTimeFilter)]
    search_fields = ["number", "external_id", "customer__display_name", "customer__email"]
    search_help_text = _("Order number, id in its system, customer name or email.")
    list_select_related = ["customer"]
    fields = ORDER_FIELDS
    readonly_fields = ORDER_FIELDS
    inlines = [OrderSourceStateInline]

    @display(description=_("state"), ordering="state", label=STATE_COLORS)
    def state_label(self, obj):
        return _state_label(obj)

    @display(description=_("total"), ordering="total")
    def total_display(self, obj):
        return f"{obj.total} {obj.currency}"
