"""The ERP import in the admin: the import batches (read only, their row errors and a CSV of them),
the "Import an ERP export" page (upload → preview → confirm), the profiles' settings and status
mappings (with history), and the ERP's records of its orders (read only, orphans filter).

Who does what (integrations/defaults.py): operations import (erp_import asks for erp.add_erpimport)
and set the profiles' columns, managers map statuses, both read everything here. The upload is kept
under VAR_DIR/erp-uploads/<sha256> between the preview and the confirmation, and deleted once applied.
"""

import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldBooleanWidget

from console.admin.base import (
    AftercareAdmin,
    MappingThroughServiceMixin,
    ViewOnlyMixin,
    when_column,
)
from integrations.erp.importing import errors_csv
from integrations.erp.models import (
    ErpImport,
    ErpRecord,
    ErpSettings,
    ErpStatusMapping,
)
from integrations.erp.resources import ErpRecordResource, profile_resources
from integrations.erp.status_mappings import erp_status_mapping_set
from integrations.erp.statuses import SYSTEM
from integrations.erp.uploads import erp_import_queue, upload_keep, upload_path
from lifecycle.actors import Actor
from lifecycle.selectors import wording
from lifecycle.services.errors import PermissionDenied
from lifecycle.statuses import status_key

IMPORT = "erp.add_erpimport"  # what erp_import asks of its actor
PREVIEW_ERRORS = 200  # row errors listed on the preview; the rest are in the CSV
COUNTS = ("new", "updated", "unchanged", "invalid", "orphans")
POLL_MS = 1000  # how often a running import's page asks how far it is


class ErpUploadForm(ImportForm):
    """Unfold's import-export form: the file, its format (CSV) and its profile (the profiles' resources,
    or detected from the header row), and whether to skip invalid rows."""

    skip_invalid = forms.BooleanField(label=_("Import the valid rows and skip invalid ones"), required=False,
                                      widget=UnfoldBooleanWidget,
                                      help_text=_("Otherwise a file with an invalid row is rejected whole."))

    def __init__(self, data=None, files=None, **kwargs):
        super().__init__([CSV], profile_resources(), data=data, files=files, **kwargs)
        choices = [("", _("Detect from the header row")),
                   *((r.profile.key, r.get_display_name()) for r in profile_resources())]
        field = self.fields["resource"]
        field.label, field.choices, field.required = _("Profile"), choices, False
        field.widget = UnfoldAdminSelectWidget(choices=choices)
        self.fields["import_file"].label = _("ERP export (CSV)")
        self.fields["format"].required = False  # one format: CSV, whatever the field says

def _count_cells(batch):
    return [(_(name), getattr(batch, name)) for name in COUNTS]


@admin.register(ErpImport)
class ErpImportAdmin(ViewOnlyMixin, AftercareAdmin):
    """Batches are written by erp_import (the page below, the command, the drop folder): read only here."""

    list_display = ["id", when_column("started_at", _("when")), "who", "filename", "profile", "state_label",
                    "new", "updated", "unchanged", "invalid", "orphans", "took"]
    list_display_links = ["id", "filename"]
    list_filter = ["state", "profile", "dry_run"]
    list_select_related = ["created_by"]
    search_fields = ["filename", "sha256", "actor_ref"]
    actions_list = ["upload"]
    actions_detail = ["errors_download"]
    fieldsets = [
        (None, {"fields": ["state", "message", "filename", "started_at", "finished_at", "took", "who"]}),
        (_("Provenance"), {"fields": ["file_hash", "size", "profile", "profile_detected", "profile_reason", "store",
                                      "dry_run", "skip_invalid", "duplicate_of"]}),
        (_("Counts"), {"fields": ["lines_read", "orders_read", *COUNTS]}),
        (_("Row errors"), {"fields": ["row_errors"]}),
    ]
    readonly_fields = ["state", "message", "filename", "started_at", "finished_at", "took", "who", "file_hash",
                       "size", "profile", "profile_detected", "profile_reason", "store", "dry_run", "skip_invalid",
                       "duplicate_of", "lines_read", "orders_read", *COUNTS, "row_errors"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A batch the worker is still reading opens on its live page, which follows it."""
        if str(object_id).isdigit() and ErpImport.objects.filter(pk=object_id).exclude(phase="").exists():
            return redirect("admin:erp_erpimport_preview", object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_import_permission(self, request):
        return request.user.has_perm(IMPORT)

    @display(description=_("who"), ordering="created_by__username")
    def who(self, obj):
        if obj.created_by is not None:
            return obj.created_by.get_full_name() or obj.created_by.get_username()
        return wording.actor_text("task", obj.actor_ref) if obj.actor_ref else "—"

    @display(description=_("took"), ordering="duration")
    def took(self, obj):
        if obj.duration is None:
            return "—"
        seconds = obj.duration.total_seconds()
        return f"{seconds:.2f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"

    @display(description=_("SHA-256"))
    def file_hash(self, obj):
        return obj.sha256

    @display(description=_("state"), ordering="state", label={
        ErpImport.State.APPLIED.label: "success", ErpImport.State.PREVIEWED.label: "info",
        ErpImport.State.RUNNING.label: "info", ErpImport.State.REJECTED.label: "danger",
        ErpImport.State.FAILED.label: "danger"})
    def state_label(self, obj):
        return obj.get_state_display()

    @display(description=_("row errors"))
    def row_errors(self, obj):
        return errors_table(obj, limit=PREVIEW_ERRORS)

    @action(description=_("Import an ERP export"), url_path="upload", icon="upload_file", permissions=["import"])
    def upload(self, request):
        if request.method == "POST" and "confirm" in request.POST:
            return self._confirm(request)
        form = ErpUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            kept = upload_keep(form.cleaned_data["import_file"])
            try:
                batch = erp_import_queue(kept, filename=form.cleaned_data["import_file"].name,
                                         actor=Actor.for_user(request.user),
                                         profile=form.cleaned_data["resource"] or None, dry_run=True,
                                         skip_invalid=form.cleaned_data["skip_invalid"])
            except PermissionDenied as error:
                kept.unlink(missing_ok=True)
                messages.error(request, str(error))
                return redirect("admin:erp_erpimport_changelist")
            return redirect("admin:erp_erpimport_preview", batch.pk)
        return TemplateResponse(request, "admin/erp/erpimport/upload.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Import an ERP export"),
            "form": form, "media": self.media + form.media})

    def _confirm(self, request):
        """Apply the previewed file with the preview's options: at once, or on the worker for a large file."""
        confirm = str(request.POST.get("confirm", ""))
        preview = get_object_or_404(ErpImport, pk=confirm if confirm.isdigit() else None,
                                    state=ErpImport.State.PREVIEWED)
        kept = upload_path(preview.sha256)
        if kept is None:
            raise Http404
        if not kept.exists():
            messages.error(request, _("The uploaded file is no longer kept (already applied, or cleaned up): "
                                      "upload it again."))
            return redirect("admin:erp_erpimport_upload")
        try:
            batch = erp_import_queue(kept, filename=preview.filename, actor=Actor.for_user(request.user),
                                     profile=None if preview.profile_detected else preview.profile or None,
                                     dry_run=False, skip_invalid=preview.skip_invalid)
        except PermissionDenied as error:
            messages.error(request, str(error))
            return redirect("admin:erp_erpimport_changelist")
        if batch.phase:  # queued: its page shows how far it is
            return redirect("admin:erp_erpimport_preview", batch.pk)
        level = messages.SUCCESS if batch.state == ErpImport.State.APPLIED else messages.ERROR
        messages.add_message(request, level, batch.message)
        return redirect("admin:erp_erpimport_change", batch.pk)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/preview/", view(self.preview_view), name="erp_erpimport_preview"),
            path("<int:object_id>/progress/", view(self.progress_view), name="erp_erpimport_progress"),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        """A batch as its operator follows it: how far it is while it runs, then its preview (profile,
        counts, row errors, and Confirm when it could apply) or what it applied."""
        if not self.has_view_permission(request):
            raise Forbidden
        batch = get_object_or_404(ErpImport, pk=object_id)
        kept = upload_path(batch.sha256)
        can_apply = (batch.state == ErpImport.State.PREVIEWED and batch.duplicate_of_id is None
                     and (not batch.invalid or batch.skip_invalid) and kept is not None and kept.exists()
                     and self.has_import_permission(request))
        return TemplateResponse(request, "admin/erp/erpimport/preview.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "batch": batch,
            "title": (_("Preview of %(file)s") if batch.dry_run else _("Import of %(file)s")) % {"file": batch.filename},
            "counts": _count_cells(batch), "errors": errors_table(batch, limit=PREVIEW_ERRORS) if not batch.phase else "",
            "can_apply": can_apply, "poll_ms": POLL_MS,
            "progress_url": reverse("admin:erp_erpimport_progress", args=[batch.pk]),
        })

    def progress_view(self, request, object_id):
        """How far a batch is, for its page's polling: phase, percent, counts, and whether it is done."""
        if not self.has_view_permission(request):
            raise Forbidden
        batch = get_object_or_404(ErpImport, pk=object_id)
        return JsonResponse({"done": not batch.phase, "phase": batch.phase, "percent": batch.percent,
                             "state": batch.get_state_display(), "lines_read": batch.lines_read,
                             "orders_read": batch.orders_read, "message": batch.message,
                             **{name: getattr(batch, name) for name in COUNTS}})

    @action(description=_("Download errors as CSV"), url_path="errors-csv", icon="download", permissions=["view"])
    def errors_download(self, request, object_id):
        batch = get_object_or_404(self.get_queryset(request), pk=object_id)
        out = io.StringIO()
        errors_csv(batch, out)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="erp-import-{batch.pk}-errors.csv"'
        return response


def errors_table(batch, *, limit):
    """The batch's first `limit` row errors as a table (line, column, value, message), with the total."""
    total = batch.errors.count()
    if not total:
        return _("None.")
    rows = batch.errors.order_by("line", "id")[:limit]
    url = reverse("admin:erp_erpimport_errors_download", args=[batch.pk])
    shown = ngettext("%(total)d row error", "%(total)d row errors", total) % {"total": total}
    if total > limit:
        shown = _("The first %(limit)d of %(shown)s") % {"limit": limit, "shown": shown}
    return format_html(
        '<p class="mb-2" data-erp-errors-total="{}">{} · <a class="text-primary-600 underline" href="{}" '
        'data-erp-errors-csv>{}</a></p>'
        '<table class="w-full text-sm border border-base-200 dark:border-base-800" data-erp-errors>'
        '<thead><tr class="text-left"><th class="px-2 py-1">{}</th><th class="px-2 py-1">{}</th>'
        '<th class="px-2 py-1">{}</th><th class="px-2 py-1">{}</th></tr></thead><tbody>{}</tbody></table>',
        total, shown, url, _("Download errors as CSV"), _("line"), _("column"), _("value"), _("error"),
        format_html_join("", '<tr class="border-t border-base-200 dark:border-base-800"><td class="px-2 py-1">{}</td>'
                         '<td class="px-2 py-1">{}</td><td class="px-2 py-1"><code>{}</code></td>'
                         '<td class="px-2 py-1">{}</td></tr>',
                         ((e.line, e.column or "—", e.value, e.message) for e in rows)))


@admin.register(ErpSettings)
class ErpSettingsAdmin(SimpleHistoryAdmin, AftercareAdmin):
    list_display = ["profile", "store", "column_overrides"]
    list_select_related = ["store"]
    fields = ["profile", "column_overrides", "store"]

    def get_readonly_fields(self, request, obj=None):
        return ["profile"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False


class ErpStatusMappingForm(forms.ModelForm):
    class Meta:
        model = ErpStatusMapping
        fields = ["profile", "raw_status", "canonical"]


@admin.register(ErpStatusMapping)
class ErpStatusMappingAdmin(MappingThroughServiceMixin, SimpleHistoryAdmin, AftercareAdmin):
    form = ErpStatusMappingForm
    list_display = ["profile", "raw_status", "canonical"]
    list_filter = ["profile", "canonical"]
    search_fields = ["raw_status"]
    fields = ["profile", "raw_status", "canonical"]

    def get_readonly_fields(self, request, obj=None):
        return ["profile", "raw_status"] if obj else []

    change_permission = "erp.change_erpstatusmapping"

    def map_status(self, obj, actor):
        """Through erp_status_mapping_set: history, and the orders waiting on that status follow."""
        return erp_status_mapping_set(profile=obj.profile, raw_status=obj.raw_status, canonical=obj.canonical,
                                      actor=actor)

    def saved_mapping(self, obj):
        return ErpStatusMapping.objects.get(profile=obj.profile, raw_status=status_key(obj.raw_status, SYSTEM))


class OrphanFilter(admin.SimpleListFilter):
    title = _("orphans")
    parameter_name = "orphan"

    def lookups(self, request, model_admin):
        return [("yes", _("Orphans (the shop has not reported the order)")), ("no", _("Attached to an order"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(order__isnull=True)
        if self.value() == "no":
            return queryset.filter(order__isnull=False)
        return queryset


@admin.register(ErpRecord)
class ErpRecordAdmin(ExportMixin, ViewOnlyMixin, AftercareAdmin):
    """Read only; Export downloads the records (the filtered list, e.g. the orphans) through Unfold's form."""

    resource_classes = [ErpRecordResource]
    export_form_class = ExportForm
    formats = [CSV]
    list_display = ["namespace", "erp_id", "shop_order_number", "raw_status", "total", "currency",
                    when_column("observed_at", _("observed")), "order", "erp_import", "line"]
    list_filter = [OrphanFilter, "namespace"]
    list_select_related = ["order", "erp_import"]
    search_fields = ["erp_id", "shop_order_number", "customer_email"]

    def has_export_permission(self, request):
        return self.has_view_permission(request)
