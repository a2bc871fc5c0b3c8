"""What the console reads back from the CRM, in the admin: the deal stage mappings (what a deal stage
means for its order, and the stage each order state is pushed at), the HubSpot app's webhook secret
(write-only, stored encrypted like the token) and where each pull resumes (read only).

Who does what (integrations/defaults.py): managers and operations map deal stages; operations set
the webhook secret; both read the cursors. Saves go through the services (deal_stage_mapping_set,
webhook_secret_set), which keep history and caches and say who may.
"""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import display
from unfold.widgets import UnfoldAdminSelectWidget

from console.admin.base import AftercareAdmin, MappingThroughServiceMixin, ViewOnlyMixin, when_column
from console.admin.integrations import SecretInput
from integrations.crm import deals
from integrations.crm.models import HUBSPOT_DEAL_STAGES, CrmConnection, CrmCursor, CrmDealStageMapping, CrmWebhookSecret
from integrations.crm.webhooks import webhook_path, webhook_secret_set
from integrations.crypto import Secret, mask
from integrations.models import MAPPING_CHOICES
from lifecycle.actors import Actor
from lifecycle.models import OrderState
from lifecycle.statuses import IGNORE, status_key

def _connections():
    return CrmConnection.objects.defer("token")


# --- deal stage mappings -------------------------------------------------------------------------
class CrmDealStageMappingForm(forms.ModelForm):
    canonical = forms.ChoiceField(label=_("Means"), choices=MAPPING_CHOICES, widget=UnfoldAdminSelectWidget,
                                  help_text=_("What an order whose deal is at this stage is, to the console. Orders "
                                              "are sent to HubSpot at the first stage mapped to their state."))

    class Meta:
        model = CrmDealStageMapping
        fields = ["connection", "dealstage", "canonical"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "connection" in self.fields:
            self.fields["connection"].queryset = _connections()


@admin.register(CrmDealStageMapping)
class CrmDealStageMappingAdmin(MappingThroughServiceMixin, SimpleHistoryAdmin, AftercareAdmin):
    form = CrmDealStageMappingForm
    list_display = ["stage_label", "means", "pushed_for", "connection"]
    list_filter = ["connection", "canonical"]
    list_select_related = ["connection"]
    search_fields = ["dealstage"]
    search_help_text = _("A deal stage's internal id, e.g. closedwon or 1234567.")
    change_permission = deals.CHANGE

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__token")

    def get_fields(self, request, obj=None):
        # Another stage is another mapping: on its page the stage is named, not edited.
        return ["connection", "stage_label", "canonical", "pushed_for"] if obj else ["connection", "dealstage",
                                                                                     "canonical"]

    def get_readonly_fields(self, request, obj=None):
        return ["connection", "stage_label", "pushed_for"] if obj else []

    def map_status(self, obj, actor):
        """Through deal_stage_mapping_set: history, the caches, and the orders waiting on the stage follow."""
        return deals.deal_stage_mapping_set(connection=obj.connection, dealstage=obj.dealstage,
                                            canonical=obj.canonical, actor=actor)

    def saved_mapping(self, obj):
        return CrmDealStageMapping.objects.get(connection=obj.connection,
                                               dealstage=status_key(obj.dealstage, deals.SYSTEM))

    @display(description=_("deal stage"), ordering="dealstage")
    def stage_label(self, obj):
        label = HUBSPOT_DEAL_STAGES.get(obj.dealstage)
        return f"{label} ({obj.dealstage})" if label else obj.dealstage

    @display(description=_("means"), ordering="canonical")
    def means(self, obj):
        return _("not an order") if obj.canonical == IGNORE else obj.get_canonical_display()

    @display(description=_("orders sent to HubSpot at this stage"))
    def pushed_for(self, obj):
        states = [OrderState(state).label for state, stage in deals.push_stages(obj.connection_id).items()
                  if stage == obj.dealstage]
        return ", ".join(states) if states else "—"


# --- the webhook secret --------------------------------------------------------------------------
class CrmWebhookSecretForm(forms.ModelForm):
    secret = forms.CharField(label=_("Client secret"), widget=SecretInput, required=False,
                             help_text=_("The HubSpot app's client secret, which signs its webhooks."))

    class Meta:
        model = CrmWebhookSecret
        fields = ["connection", "secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("secret", None)  # the plaintext never reaches the page
        if "connection" in self.fields:  # one secret per connection: the others have theirs
            self.fields["connection"].queryset = _connections().filter(webhook_secret__isnull=True)
        if self.instance.pk is None:
            self.fields["secret"].required = True
        else:
            self.fields["secret"].help_text = _("Stored: %(masked)s. Leave empty to keep it; type a new one to "
                                                "replace it.") % {"masked": mask(self.instance.secret)}

    def clean_secret(self):
        value = self.cleaned_data.get("secret", "").strip()
        return Secret(value or (self.instance.secret if self.instance.pk else ""))


@admin.register(CrmWebhookSecret)
class CrmWebhookSecretAdmin(AftercareAdmin):
    form = CrmWebhookSecretForm
    list_display = ["connection", "secret_masked", "target_path", when_column("updated_at", _("set"))]
    list_select_related = ["connection"]
    readonly_fields = ["secret_masked", "target_url", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__token")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["connection", "secret"]
        secret = "secret" if self.has_change_permission(request, obj) else "secret_masked"
        return ["connection", secret, "target_url", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "connection"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # without a secret every delivery is refused: replace it instead

    def save_model(self, request, obj, form, change):
        """Through webhook_secret_set (it says who may); the form never lets an empty secret through."""
        webhook_secret_set(connection=obj.connection, secret=form.cleaned_data["secret"],
                           actor=Actor.for_user(request.user))
        saved = CrmWebhookSecret.objects.get(connection=obj.connection)
        obj.pk, obj._state.adding = saved.pk, False  # the admin redirects and logs with it
        messages.info(request, format_html(
            _("Enter {} as the target URL of the HubSpot app's webhooks (contact and deal property changes)."),
            request.build_absolute_uri(webhook_path(obj.connection))))

    def save_related(self, request, form, formsets, change):
        pass  # nothing hangs off a secret

    @display(description=_("client secret"))
    def secret_masked(self, obj):
        return mask(obj.secret)

    @display(description=_("target URL in HubSpot"))
    def target_path(self, obj):
        return webhook_path(obj.connection)

    @display(description=_("target URL in HubSpot"))
    def target_url(self, obj):
        return format_html(_("{} on the console's address, as HubSpot reaches it (e.g. https://console.example.com{})"),
                           webhook_path(obj.connection), webhook_path(obj.connection))


# --- the pull cursors ----------------------------------------------------------------------------
@admin.register(CrmCursor)
class CrmCursorAdmin(ViewOnlyMixin, AftercareAdmin):
    """Where each pull resumes; only the pulls move a cursor (in the transaction of the page it ends)."""

    list_display = ["connection", "object_label", "resumes_after", when_column("last_success_at", _("last pulled")),
                    when_column("last_run_at", _("last tried")), "records", "failing"]
    list_filter = ["connection", "object_type"]
    list_select_related = ["connection"]
    fields = ["connection", "object_label", "resumes_after", "last_run_at", "last_success_at", "last_error",
              "records", "pulling"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("connection__token")

    @display(description=_("what"), ordering="object_type")
    def object_label(self, obj):
        return obj.get_object_type_display()

    @display(description=_("resumes after"), ordering="modified_at")
    def resumes_after(self, obj):
        if obj.modified_at is None:
            return _("the beginning: the next pull reads everything")
        return format_html("{} <span class=\"text-font-subtle-light dark:text-font-subtle-dark\">({})</span>",
                           when_column("modified_at", style="absolute")(obj),
                           _("after HubSpot record %(id)s") % {"id": obj.last_id} if obj.last_id
                           else _("every record of that moment"))

    @display(description=_("last error"), label={"failing": "danger"})
    def failing(self, obj):
        return ("failing", obj.last_error[:120]) if obj.last_error else ""

    @display(description=_("pulling now"))
    def pulling(self, obj):
        return _("yes, until %(until)s") % {"until": when_column("pulling_until")(obj)} if obj.pulling_by else _("no")
