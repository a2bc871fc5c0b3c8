"""Customers and their identities. Customers are created by the shop sync, imports and services
(customer_create links identities and writes the timeline), so the admin never adds or deletes
them; their stage and owner change only through the actions, which call the services."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display

from console.admin.actions import move_stage, move_stage_page, reassign_owner, reassign_page
from console.admin.base import (AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, can_see_owners, owner_of,
                                when_column)
from console.admin.filters import AgentFilter, AssignmentFilter, TeamFilter
from console.admin.orders import OrderInline, customer_column
from console.admin.ownership import HandoffInline
from console.admin.timeline import TimelineInline
from console.templatetags.when import when
from lifecycle.models import Customer, CustomerIdentity, IdentityKind, Stage
from lifecycle.selectors.search import PHONE_MIN_DIGITS
from lifecycle.normalise import normalize_phone

STAGE_COLORS = {
    Stage.PROSPECT: "info",
    Stage.PURCHASED: "info",
    Stage.ONBOARDING: "primary",
    Stage.ACTIVE: "success",
    Stage.AT_RISK: "danger",
    Stage.LOYAL: "success",
    Stage.CHURNED: "warning",
}
OWNER_COLUMNS = {"owner_team", "owner_agent"}
OWNER_FILTERS = {AssignmentFilter, TeamFilter, AgentFilter}


def customer_screen_url(customer_id):
    """The console's customer screen: where anything naming a customer should lead."""
    return reverse("console:customer", args=[customer_id])


def customer_link(customer):
    """The customer's name, linking to its customer screen (for admin columns)."""
    return format_html('<a href="{}" class="font-semibold text-primary-600 dark:text-primary-500">{}</a>',
                       customer_screen_url(customer.pk), customer)


class CustomerIdentityInline(ViewOnlyMixin, TabularInline):
    # Identities link systems together; linking goes through customer_link_identity.
    model = CustomerIdentity
    fields = ["kind", "namespace", "value", "created_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Customer)
class CustomerAdmin(VisibleToUserMixin, AftercareAdmin):
    customer_path = ""
    list_display = ["name", "email", "stage_label", "owner_team", "owner_agent",
                    when_column("first_order_at", _("first order")), when_column("created_at", _("created")), "record"]
    # The name opens the customer screen; the admin record stays one click away in the last column.
    list_display_links = None
    change_form_before_template = "console/customer/admin_banner.html"
    list_filter = [
        ("stage", ChoicesDropdownFilter), AssignmentFilter, TeamFilter, AgentFilter, "country",
    ]
    search_fields = ["display_name", "email", "phone", "identities__value", "orders__number"]
    search_help_text = _("Name, email, phone, any linked identity (shop, CRM, ERP id) or order number.")
    # Email and phone are identities too (unique across customers): changing them needs a service
    # that relinks them, so only the harmless fields are editable here.
    readonly_fields = [
        "email", "phone", "stage", "stage_changed_at", "first_order_at", "created_at", "updated_at",
        "owner_team", "owner_agent", "owner_since",
    ]
    inlines = [CustomerIdentityInline, OrderInline, HandoffInline, TimelineInline]
    actions = [reassign_owner, move_stage]
    actions_detail = ["reassign_owner_detail", "move_stage_detail"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ownership__team", "ownership__agent__user")

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return columns if can_see_owners(request) else [c for c in columns if c not in OWNER_COLUMNS]

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return filters if can_see_owners(request) else [f for f in filters if f not in OWNER_FILTERS]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["display_name", "email", "phone", "country"]}),
            (_("Lifecycle"), {"fields": ["stage", "stage_changed_at", "first_order_at", "created_at", "updated_at"]}),
        ]
        if can_see_owners(request):
            fieldsets.append((_("Owner"), {"fields": ["owner_team", "owner_agent", "owner_since"]}))
        return fieldsets

    def get_search_results(self, request, queryset, search_term):
        """Also find '(555) 555-0100' when the phone is stored normalised as '5555550100'."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone = normalize_phone(search_term)
        if len(phone.lstrip("+")) >= PHONE_MIN_DIGITS and phone != search_term.strip():
            results |= queryset.filter(
                Q(phone=phone) | Q(identities__kind=IdentityKind.PHONE, identities__value=phone)
            )
            may_have_duplicates = True
        return results, may_have_duplicates

    # Customers come from the shop, imports and services; history must outlive any cleanup.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # `permissions=["reassign_owner"]` on an action resolves to these.
    def has_reassign_owner_permission(self, request, obj=None):
        return request.user.has_perm("lifecycle.reassign_owner")

    def has_move_stage_permission(self, request, obj=None):
        return request.user.has_perm("lifecycle.move_stage")

    # --- columns ----------------------------------------------------------------------------
    @display(description=_("name"), ordering="display_name")
    def name(self, obj):
        return customer_link(obj)

    @display(description=_("record"))
    def record(self, obj):
        return format_html(
            '<a href="{}" title="{}" class="material-symbols-outlined text-base-400">edit_note</a>',
            reverse("admin:lifecycle_customer_change", args=[obj.pk]), _("Admin record"),
        )

    @display(description=_("stage"), ordering="stage", label=STAGE_COLORS)
    def stage_label(self, obj):
        return obj.stage, obj.get_stage_display()

    @display(description=_("owner team"), ordering="ownership__team__name")
    def owner_team(self, obj):
        ownership = owner_of(obj)
        return ownership.team.name if ownership else None

    @display(description=_("owner agent"), ordering="ownership__agent__user__username")
    def owner_agent(self, obj):
        ownership = owner_of(obj)
        if ownership is None:
            return None
        return str(ownership.agent) if ownership.agent else _("unassigned")

    @display(description=_("owner since"))
    def owner_since(self, obj):
        ownership = owner_of(obj)
        return when(ownership.since) if ownership else None

    # --- one customer, from its change page -------------------------------------------------
    def _customer_or_404(self, request, object_id):
        customer = self.get_object(request, unquote(object_id))
        if customer is None or not self.has_view_permission(request, customer):
            raise Http404(_("No such customer."))
        return customer

    def _back_to(self, request, customer):
        # Opened from the customer screen (?next=), the action returns there; else to this page.
        back = request.GET.get("next", "")
        if back == customer_screen_url(customer.pk) and url_has_allowed_host_and_scheme(back, None):
            return redirect(back)
        return redirect(reverse("admin:lifecycle_customer_change", args=[customer.pk]))

    @action(description=_("Reassign owner"), url_path="reassign-owner", icon="swap_horiz",
            permissions=["reassign_owner"])
    def reassign_owner_detail(self, request, object_id):
        customer = self._customer_or_404(request, object_id)
        page = reassign_page(self, request, [customer], submitted=request.method == "POST")
        return page or self._back_to(request, customer)

    @action(description=_("Move stage"), url_path="move-stage", icon="flag", permissions=["move_stage"])
    def move_stage_detail(self, request, object_id):
        customer = self._customer_or_404(request, object_id)
        page = move_stage_page(self, request, [customer], submitted=request.method == "POST")
        return page or self._back_to(request, customer)


@admin.register(CustomerIdentity)
class CustomerIdentityAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = ["value", "kind", "namespace", customer_column, when_column("created_at", _("created"))]
    list_filter = ["kind", "namespace"]
    search_fields = ["value", "customer__display_name", "customer__email"]
    list_select_related = ["customer"]
    readonly_fields = ["customer", "kind", "namespace", "value", "created_at"]
