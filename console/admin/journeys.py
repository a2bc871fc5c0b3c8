"""Playbooks (managers edit them with their steps inline, history kept; every save publishes a new
version through lifecycle.services.journeys.playbooks.playbook_publish), their published versions
and the journeys (read only: the journey services write them)."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import StackedInline, TabularInline
from unfold.widgets import UnfoldAdminTextareaWidget

from console.admin.base import AftercareAdmin, ViewOnlyMixin, VisibleToUserMixin, when_column
from lifecycle.actors import Actor
from lifecycle.models import Journey, JourneyStep, JourneyWatermark, Playbook, PlaybookStep, PlaybookVersion
from lifecycle.services.journeys import signals
from lifecycle.services.journeys.playbooks import PlaybookRefused, playbook_publish


class LinesField(forms.CharField):
    """A list edited as one entry per line (or separated by commas)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", UnfoldAdminTextareaWidget(attrs={"rows": 2}))
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


class StepForm(forms.ModelForm):
    signals = LinesField(help_text=signals.help_text())

    class Meta:
        model = PlaybookStep
        fields = ["position", "key", "name", "team", "due_days", "trigger", "trigger_days", "signals", "sla_minutes"]
        labels = {"due_days": _("Due, days after payment (the calendar)"), "trigger": _("Re-timed when"),
                  "trigger_days": _("Then due, days after it"),
                  "sla_minutes": _("Time to catch up once missed (minutes)")}

    def clean_signals(self):
        entries = self.cleaned_data["signals"]
        problems = signals.problems(entries)
        if problems:
            raise forms.ValidationError(problems)
        if not entries:
            raise forms.ValidationError(_("Name at least one signal that completes the step."))
        return entries


class StepFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not kept:
            raise forms.ValidationError(_("A playbook needs at least one step."))


class PlaybookStepInline(StackedInline):
    model = PlaybookStep
    form = StepForm
    formset = StepFormSet
    extra = 0
    ordering = ["position", "id"]
    fields = [("position", "key", "name"), ("team", "sla_minutes"), ("due_days", "trigger", "trigger_days"),
              "signals"]


class PlaybookForm(forms.ModelForm):
    exit_on = forms.MultipleChoiceField(choices=list(signals.EXITS.items()), required=False,
                                        widget=forms.CheckboxSelectMultiple,
                                        help_text=_("What ends a running journey early; its pending steps are skipped."))
    product_categories = LinesField(help_text=_("One category per line; empty: any."))

    class Meta:
        model = Playbook
        fields = "__all__"


@admin.register(Playbook)
class PlaybookAdmin(SimpleHistoryAdmin, AftercareAdmin):
    form = PlaybookForm
    inlines = [PlaybookStepInline]
    list_display = ["name", "active", "priority", "store", "order_kind", "re_entry", "version",
                    when_column("updated_at", "edited")]
    list_filter = ["active", "order_kind"]
    list_editable = []
    search_fields = ["name", "store"]
    readonly_fields = ["version"]
    fieldsets = [
        (None, {"fields": ["name", "description", "active", "priority", "version"]}),
        (_("Which customers (empty matches anything)"), {"fields": [
            "store", "product_categories", "min_order_total", "max_order_total", "order_kind"]}),
        (_("When it ends, and again"), {"fields": ["exit_on", "re_entry", "re_entry_days"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # journeys keep their playbook: make it inactive instead

    def save_related(self, request, form, formsets, change):
        """Every save publishes the playbook as it now is: journeys started from now on follow it."""
        super().save_related(request, form, formsets, change)
        try:
            version = playbook_publish(playbook=form.instance, actor=Actor.for_user(request.user))
        except PlaybookRefused as error:
            messages.error(request, _("Saved but not published: %(why)s") % {"why": error})
        else:
            messages.info(request, _("Published as version %(n)d: journeys started from now on follow it; running "
                                     "ones keep the version they started with.") % {"n": version.number})


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ViewOnlyMixin, AftercareAdmin):
    list_display = ["playbook", "number", when_column("published_at", "published"), "published_by"]
    list_filter = ["playbook"]
    list_select_related = ["playbook", "published_by"]
    fields = ["playbook", "number", "published_at", "published_by", "conditions", "steps"]


class JourneyStepInline(ViewOnlyMixin, TabularInline):
    model = JourneyStep
    fields = ["position", "name", "team", "state", "duplicated", when_column("due_at", "due"),
              when_column("done_at", "done"), when_column("missed_at", "missed")]
    readonly_fields = fields
    ordering = ["position", "id"]
    extra = 0
    can_delete = False


@admin.register(Journey)
class JourneyAdmin(VisibleToUserMixin, ViewOnlyMixin, AftercareAdmin):
    list_display = ["customer", "playbook", "version", "status", when_column("started_at", "day 0"),
                    when_column("ended_at", "ended")]
    list_filter = ["status", "playbook"]
    list_select_related = ["customer", "playbook", "version"]
    search_fields = ["customer__display_name", "customer__email"]
    fields = ["customer", "playbook", "version", "order", "status", "started_at", "ended_at", "end_reason"]
    inlines = [JourneyStepInline]


@admin.register(JourneyWatermark)
class JourneyWatermarkAdmin(ViewOnlyMixin, AftercareAdmin):
    """Read only: how far the journey follower has read the timeline."""

    list_display = ["safe_id", "seen_id", when_column("seen_at", "seen"), "followed", when_column("updated_at", "run")]
