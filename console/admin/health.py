"""Health in the admin: the policy managers tune (each weight as its own number, the bands, the
churn window; saved through its service, which publishes a new version and recomputes every score;
every version in the history), and the scores, their snapshots and the follower's watermark, read only
(the recompute writes them)."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.widgets import UnfoldAdminIntegerFieldWidget

from console.admin.base import AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, when_column
from console.admin.orders import customer_column
from lifecycle.actors import Actor
from lifecycle.models import HealthPolicy, HealthScore, HealthSnapshot
from lifecycle.models.health import HealthWatermark
from lifecycle.selectors.health import BAND_WORDS
from lifecycle.services.health import health_policy_save
from lifecycle.services.health_score import COMPONENTS, LABELS

WEIGHT_HELP = {
    "repeat_orders": _("Paid orders beyond the first; two earn the whole weight."),
    "on_time_delivery": _("Paid orders delivered within the delivery window of payment."),
    "journey_on_time": _("First-30-days journey steps done on time, of those that came due."),
    "open_exceptions": _("Each open problem of the customer's costs a third of the weight."),
    "refunds": _("The share of paid orders refunded in whole or part."),
    "recent_activity": _("Full within the quiet period, nothing at the churn window."),
}


def _weight(name):
    return forms.IntegerField(label=_(LABELS[name]), min_value=0, max_value=1000, help_text=WEIGHT_HELP[name],
                              widget=UnfoldAdminIntegerFieldWidget)


class HealthPolicyForm(forms.ModelForm):
    """The weights as one number field each (the stored JSON stays out of sight)."""

    weight_repeat_orders = _weight("repeat_orders")
    weight_on_time_delivery = _weight("on_time_delivery")
    weight_journey_on_time = _weight("journey_on_time")
    weight_open_exceptions = _weight("open_exceptions")
    weight_refunds = _weight("refunds")
    weight_recent_activity = _weight("recent_activity")

    class Meta:
        model = HealthPolicy
        fields = ["intervene_below", "expand_above", "churn_days", "delivery_days", "quiet_days"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in COMPONENTS:
            self.fields[f"weight_{name}"].initial = (self.instance.weights or {}).get(name, 0)

    def clean(self):
        data = super().clean()
        self.instance.weights = {name: data.get(f"weight_{name}") or 0 for name in COMPONENTS}
        return data


@admin.register(HealthPolicy)
class HealthPolicyAdmin(SimpleHistoryAdmin, AftercareAdmin):
    form = HealthPolicyForm
    list_display = ["__str__", "intervene_below", "expand_above", "churn_days", when_column("updated_at", _("saved")),
                    "updated_by"]
    list_select_related = ["updated_by"]
    readonly_fields = ["version", "updated_by", "updated_at"]
    fieldsets = [
        (_("Weights (relative: a missing component's weight is not counted)"),
         {"fields": [f"weight_{name}" for name in COMPONENTS]}),
        (_("Bands and windows"), {"fields": ["intervene_below", "expand_above", "churn_days", "delivery_days",
                                             "quiet_days"]}),
        (_("Version"), {"fields": ["version", "updated_by", "updated_at"]}),
    ]

    def has_add_permission(self, request):
        return False  # one policy; its versions are its history

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        health_policy_save(policy=obj, actor=Actor.for_user(request.user))  # refuses who may not change it
        messages.info(request, _("Version %(v)d published: every score is being recomputed under it.") % {
            "v": obj.version})


@display(description=_("band"), ordering="band",
         label={"intervene": "danger", "optimize": "warning", "expand": "success"})
def band_column(obj):
    return obj.band, BAND_WORDS.get(obj.band, _("no score"))


@admin.register(HealthScore)
class HealthScoreAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = [customer_column, "score", band_column, "policy_version", when_column("computed_at", _("computed")),
                    when_column("stale_since", _("news waiting since"))]
    list_filter = [("band", ChoicesDropdownFilter), "policy_version"]
    list_select_related = ["customer"]
    search_fields = ["customer__display_name", "customer__email"]
    search_help_text = _("Customer name or email.")
    ordering = ["score", "customer_id"]
    fields = ["customer", "score", "band", "policy_version", "computed_at", "stale_since", "components"]
    readonly_fields = fields


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("computed_at", _("computed")), customer_column, "score", band_column,
                    "policy_version"]
    list_filter = [("band", ChoicesDropdownFilter)]
    list_select_related = ["customer"]
    search_fields = ["customer__display_name", "customer__email"]
    fields = ["customer", "score", "band", "policy_version", "computed_at", "components"]
    readonly_fields = fields


@admin.register(HealthWatermark)
class HealthWatermarkAdmin(ViewOnlyMixin, AftercareAdmin):
    """Read only: how far the follower has read the timeline, and the last nightly recompute."""

    list_display = ["last_event_id", when_column("followed_at", _("followed")), "followed", "waiting",
                    when_column("nightly_at", _("last nightly run")), "nightly_customers", "nightly"]

    @display(description=_("ids waiting to commit"))
    def waiting(self, obj):
        return sum(hi - lo + 1 for lo, hi, _seen in obj.gaps)

    @display(description=_("nightly run took"))
    def nightly(self, obj):
        return format_html("{} s", f"{obj.nightly_seconds:.1f}") if obj.nightly_seconds is not None else "—"
