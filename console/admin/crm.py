"""The CRM in the admin: the connection (token write-only, "Check connection"), its stage mappings
(with history), the agents' HubSpot owners (those without one listed), the outbox of changes on
their way (pending, delivered, dead letters to replay: crm_outbox.py), and what is read back (deal
stage mappings, the webhook secret, the pull cursors: crm_inbound.py).

Who does what (integrations/defaults.py): operations connect, check and replay; managers and
operations map stages; both read everything here.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminURLInputWidget

from console.admin.base import AftercareAdmin, ViewOnlyMixin, when_column
from console.admin.integrations import SecretInput, hx_redirect
from integrations.crm import daily_cap
from integrations.crm.connections import crm_connect, crm_connection_check
from integrations.crm.models import (
    CrmConnection,
    CrmOwnerLink,
    CrmStageMapping,
    OutboundMessage,
)
from integrations.crm.outbox import OPERATE
from integrations.crypto import Secret, mask
from lifecycle.actors import Actor
from lifecycle.models import Agent

M = OutboundMessage.State
SETTINGS = ["name", "base_url", "requests_per_10s", "daily_cap", "conflict_policy", "is_active"]
CHECK = ["checked", "check_message", "scopes_text", "stages_text", "requests_text"]
MAX_UNCHECKED = 20  # agents named in the owner links' notice; a longer list says "…"


# --- the connection ------------------------------------------------------------------------------
class CrmConnectionForm(forms.ModelForm):
    base_url = forms.URLField(label=_("base URL"), assume_scheme="https", widget=UnfoldAdminURLInputWidget,
                              help_text=CrmConnection._meta.get_field("base_url").help_text)
    token = forms.CharField(label=_("access token"), widget=SecretInput, required=False,
                            help_text=_("The private app's access token."))

    class Meta:
        model = CrmConnection
        fields = [*SETTINGS, "token"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("token", None)  # the plaintext never reaches the page
        self.fields["base_url"].initial = self.fields["base_url"].initial or CrmConnection._meta.get_field(
            "base_url").default
        if self.instance.pk is None:
            self.fields["token"].required = True
        else:
            self.fields["token"].help_text = _("Stored: %(masked)s. Leave empty to keep it; type a new one to "
                                               "replace it, then check the connection.") % {
                "masked": mask(self.instance.token)}

    def clean_token(self):
        # A Secret: masked in the reprs an error page prints.
        value = self.cleaned_data.get("token", "").strip()
        return Secret(value or (self.instance.token if self.instance.pk else ""))

    def clean_base_url(self):
        return self.cleaned_data["base_url"].rstrip("/")


def say_check(request, connection, check):
    if check.ok:
        messages.success(request, f"{connection.name}: {check.message}")
        if check.unlinked:
            messages.warning(request, _("No HubSpot owner has the email of %(agents)s: their customers' owner is "
                                        "not sent until one does.") % {"agents": ", ".join(map(str, check.unlinked))})
        for label, value in check.unknown_mappings:
            messages.warning(request, _("%(stage)s is mapped to %(value)s, which this account has no stage for.")
                             % {"stage": label, "value": value})
    else:
        messages.error(request, f"{connection.name}: {check.message}")


@admin.register(CrmConnection)
class CrmConnectionAdmin(SimpleHistoryAdmin, AftercareAdmin):
    form = CrmConnectionForm
    list_display = ["name", "kind", "address", "is_active", "last_check", "outbox"]
    list_filter = ["is_active"]
    actions = ["check_connection"]
    actions_detail = ["check_detail"]
    readonly_fields = [*CHECK, "token_masked"]

    def get_queryset(self, request):
        pending, dead = Q(state=M.PENDING), Q(state=M.DEAD)
        counts = OutboundMessage.objects.order_by()
        return super().get_queryset(request).defer("token").annotate(
            pending=_count(counts.filter(pending)), dead=_count(counts.filter(dead)))

    def get_fieldsets(self, request, obj=None):
        title = _("Credentials (stored encrypted, never shown back)")
        if obj is None:
            return [(None, {"fields": SETTINGS}), (title, {"fields": ["token"]})]
        # Read-only pages display fields as they are: the mask instead of the token.
        token = "token" if self.has_change_permission(request, obj) else "token_masked"
        return [(None, {"fields": SETTINGS}), (title, {"fields": [token]}), (_("Last check"), {"fields": CHECK})]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not self.has_change_permission(request, obj):
            kwargs["form"] = forms.ModelForm  # nothing to edit: no token field at all
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # its history and outbox refer to it: deactivate it instead

    def has_operate_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE)

    @method_decorator(sensitive_post_parameters("token"))  # a typed token stays out of error pages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    # A new connection goes through crm_connect, like `manage.py connect_crm`: saved, then checked.
    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        data = form.cleaned_data
        connection, check = crm_connect(
            token=data["token"], name=data["name"], base_url=data["base_url"], actor=Actor.for_user(request.user),
            settings={name: data[name] for name in ("requests_per_10s", "daily_cap", "conflict_policy", "is_active")})
        say_check(request, connection, check)
        return connection

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    @display(description=_("last check"), ordering="checked_at", label={"ok": "success", "refused": "danger",
                                                                       "never": "warning", "unreached": "warning"})
    def last_check(self, obj):
        if obj.check_ok is None and obj.checked_at is None:
            return "never", _("not checked yet")
        if obj.check_ok is None:
            return "unreached", _("not reached")
        return ("ok", _("working")) if obj.check_ok else ("refused", _("refused"))

    @display(description=_("base URL"), ordering="base_url")
    def address(self, obj):
        return obj.base_url

    @display(description=_("access token"))
    def token_masked(self, obj):
        return mask(obj.token)

    @display(description=_("outbox"))
    def outbox(self, obj):
        return _("%(pending)d pending, %(dead)d dead letters") % {"pending": obj.pending, "dead": obj.dead}

    @display(description=_("checked"))
    def checked(self, obj):
        return when_column("checked_at")(obj) or _("never")

    @display(description=_("scopes"))
    def scopes_text(self, obj):
        return ", ".join(obj.scopes) or "—"

    @display(description=_("requests today"))
    def requests_text(self, obj):
        """The daily cap's count, in HubSpot's day (the account's time zone)."""
        now = timezone.now().astimezone(daily_cap.zone_of(obj))
        used = obj.requests_today if obj.requests_day == now.date() else 0
        return _("%(used)s of %(cap)s (HubSpot's day, %(zone)s; deliveries stop at 95%%)") % {
            "used": f"{used:,}", "cap": f"{obj.daily_cap:,}", "zone": daily_cap.zone_name(obj)}

    @display(description=_("lifecycle stages"))
    def stages_text(self, obj):
        return ", ".join(f"{o['label']} ({o['value']})" for o in obj.stage_options) or "—"

    def _check(self, request, connections):
        for connection in connections:
            say_check(request, connection, crm_connection_check(connection=connection,
                                                                actor=Actor.for_user(request.user)))

    @admin.action(description=_("Check connection (token, scopes, owners, stages)"), permissions=["operate"])
    def check_connection(self, request, queryset):
        self._check(request, CrmConnection.objects.filter(pk__in=queryset.values("pk")))

    @action(description=_("Check connection"), url_path="check", icon="verified", permissions=["operate"],
            dialog={"title": _("Check this connection now?"),
                    "description": _("Asks HubSpot whether the token works and has its scopes, links agents to "
                                     "owners by email and reads the lifecycle stages.")})
    def check_detail(self, request, form, object_id):
        connection = get_object_or_404(CrmConnection, pk=object_id)
        self._check(request, [connection])
        return hx_redirect(request, reverse("admin:crm_crmconnection_change", args=[connection.pk]))


def _count(queryset):
    """The connection's messages in `queryset`, counted by a subquery on the outbox's partial indexes."""
    counted = queryset.filter(connection=OuterRef("pk")).values("connection").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted[:1]), 0)


# --- stage mappings ------------------------------------------------------------------------------
class CrmStageMappingForm(forms.ModelForm):
    class Meta:
        model = CrmStageMapping
        fields = ["hubspot_stage"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        connection = self.instance.connection if self.instance.connection_id else None
        if connection is not None:
            labels = connection.stage_labels()
            choices = [("", _("Not pushed")), *((value, f"{label} ({value})") for value, label in labels.items())]
            current = self.instance.hubspot_stage
            if current and current not in labels:  # mapped to a value the account no longer has
                choices.append((current, _("%(value)s (not in the account)") % {"value": current}))
            self.fields["hubspot_stage"] = forms.ChoiceField(
                label=_("HubSpot stage"), choices=choices, required=False, widget=UnfoldAdminSelectWidget,
                help_text=CrmStageMapping._meta.get_field("hubspot_stage").help_text)


@admin.register(CrmStageMapping)
class CrmStageMappingAdmin(SimpleHistoryAdmin, AftercareAdmin):
    form = CrmStageMappingForm
    list_display = ["connection", "stage_label", "hubspot_label"]
    list_filter = ["connection"]
    list_select_related = ["connection"]
    fields = ["connection", "stage", "hubspot_stage"]
    readonly_fields = ["connection", "stage"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__token")

    def has_add_permission(self, request):
        return False  # one per console stage, installed with the connection

    def has_delete_permission(self, request, obj=None):
        return False  # "Not pushed" instead

    @display(description=_("console stage"), ordering="stage")
    def stage_label(self, obj):
        return obj.get_stage_display()

    @display(description=_("HubSpot stage"), ordering="hubspot_stage")
    def hubspot_label(self, obj):
        if not obj.hubspot_stage:
            return _("not pushed")
        label = obj.connection.stage_labels().get(obj.hubspot_stage)
        return f"{label} ({obj.hubspot_stage})" if label else _("%(value)s (not in the account)") % {
            "value": obj.hubspot_stage}


# --- owner links ---------------------------------------------------------------------------------
class HasOwnerFilter(admin.SimpleListFilter):
    title = _("HubSpot owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("no", _("Agents without a HubSpot owner")), ("yes", _("Linked to an owner"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(owner_id="")
        if self.value() == "yes":
            return queryset.exclude(owner_id="")
        return queryset


@admin.register(CrmOwnerLink)
class CrmOwnerLinkAdmin(ViewOnlyMixin, AftercareAdmin):
    """Links are found by email at each check: read only here; fix an email in HubSpot, then check."""

    list_display = ["agent", "agent_email", "owner", when_column("checked_at", _("checked")), "connection"]
    list_filter = [HasOwnerFilter, "connection"]
    list_select_related = ["agent__user", "connection"]
    search_fields = ["agent__user__username", "agent__user__email", "owner_email"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__token")

    def changelist_view(self, request, extra_context=None):
        """Agents added since the last check have no link yet: named above the list, not hidden by it."""
        unchecked = (Agent.objects.filter(user__is_active=True).select_related("user")
                     .exclude(crm_owner_links__isnull=False).order_by("user__username")[:MAX_UNCHECKED + 1])
        if unchecked and CrmConnection.objects.filter(is_active=True).exists():
            names = ", ".join(str(agent) for agent in unchecked[:MAX_UNCHECKED])
            more = "…" if len(unchecked) > MAX_UNCHECKED else ""
            messages.warning(request, _("Not looked up in HubSpot yet: %(agents)s%(more)s. The next delivery that "
                                        "needs them, or a connection check, looks them up.") % {
                "agents": names, "more": more})
        return super().changelist_view(request, extra_context)

    @display(description=_("agent's email"), ordering="agent__user__email")
    def agent_email(self, obj):
        return obj.agent.user.email or "—"

    @display(description=_("HubSpot owner"), ordering="owner_email", label={"none": "danger", "linked": "success"})
    def owner(self, obj):
        if not obj.owner_id:
            return "none", _("none has this email")
        return "linked", f"{obj.owner_name or obj.owner_email} (id {obj.owner_id})"


# The inbound side's pages (deal stage mappings, the webhook secret, the pull cursors) register with these.
from console.admin import crm_inbound  # noqa: E402, F401
