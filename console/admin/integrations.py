"""The WooCommerce connections: stores (secrets write-only) and status mappings (through their service,
with history). What came in from the shops, deliveries and sync runs: deliveries.py.

Who does what (integrations/defaults.py): operations connect and operate stores, managers map
statuses, both read everything here; support agents only read the status mappings.
"""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import CharField, Value
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminPasswordWidget, UnfoldAdminURLInputWidget

from console.admin.base import AftercareAdmin, MappingThroughServiceMixin
from console.templatetags.when import when as when_html
from integrations.crypto import Secret, mask
from integrations.models import StatusMapping, StoreConnection
from integrations.stores import store_connect
from integrations.woocommerce import statuses
from integrations.woocommerce.status_mappings import status_mapping_set
from integrations.woocommerce.tasks import backfill_store
from lifecycle.actors import Actor

SECRETS = ("consumer_key", "consumer_secret", "webhook_secret")
# Rows that only show a store's name never decrypt its secrets (one Fernet decryption each).
STORE_SECRETS = tuple(f"store__{name}" for name in SECRETS)
# Operating a store (sync now, replaying its deliveries) is for who may change its connection.
OPERATE = "integrations.change_storeconnection"
STORE_VIEW = "integrations.view_storeconnection"


def hx_redirect(request, url):
    """Where a finished action goes: unfold's dialogs post with htmx, which follows HX-Redirect."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


# --- stores -------------------------------------------------------------------------------------
class SecretInput(UnfoldAdminPasswordWidget):
    """Never renders a value: the stored secret is shown masked in the field's help text only."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


class StoreConnectionForm(forms.ModelForm):
    base_url = forms.URLField(label=_("base URL"), assume_scheme="https", widget=UnfoldAdminURLInputWidget,
                              help_text=StoreConnection._meta.get_field("base_url").help_text)
    consumer_key = forms.CharField(label=_("consumer key"), widget=SecretInput, required=False)
    consumer_secret = forms.CharField(label=_("consumer secret"), widget=SecretInput, required=False)
    webhook_secret = forms.CharField(label=_("webhook secret"), widget=SecretInput, required=False,
                                     help_text=_("The secret entered in WooCommerce for each webhook."))

    class Meta:
        model = StoreConnection
        fields = ["name", "slug", "base_url", *SECRETS, "query_string_auth", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRETS:
            self.initial.pop(name, None)  # the plaintext never reaches the page, not even as "initial"
            field = self.fields[name]
            if self.instance.pk is None:
                field.required = True
            else:
                field.help_text = _("Stored: %(masked)s. Leave empty to keep it; type a new one to replace it.") % {
                    "masked": mask(getattr(self.instance, name))}
        if "slug" in self.fields:  # the add form: store_connect derives it from the name
            self.fields["slug"].required = False
            self.fields["slug"].help_text = _("Part of the webhook URL; defaults to the name. Fixed once created.")

    def _secret(self, name):
        # A Secret: masked in the reprs an error page prints, in every frame it is passed through.
        value = self.cleaned_data.get(name, "")
        return Secret(value or (getattr(self.instance, name) if self.instance.pk else ""))

    def clean_consumer_key(self):
        return self._secret("consumer_key")

    def clean_consumer_secret(self):
        return self._secret("consumer_secret")

    def clean_webhook_secret(self):
        return self._secret("webhook_secret")

    def clean_base_url(self):
        return self.cleaned_data["base_url"].rstrip("/")

    def clean(self):
        data = super().clean()
        if "slug" in self.fields:
            # As store_connect derives it, so the model's unique check sees the slug that will be saved.
            data["slug"] = slugify(data.get("slug") or data.get("name") or "")[:50]
            if not data["slug"] and "name" in data:
                self.add_error("name", _("A store needs a name with letters or digits."))
        return data


@admin.register(StoreConnection)
class StoreConnectionAdmin(AftercareAdmin):
    form = StoreConnectionForm
    list_display = ["name", "slug", "base_url", "is_active", "webhook_url", "last_sync"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug", "base_url"]
    list_select_related = ["sync_cursor"]
    actions = ["sync_now"]
    actions_detail = ["sync_now_detail"]

    def get_queryset(self, request):
        # The webhook URL to paste into WooCommerce is absolute, on the address the console is reached at.
        root = request.build_absolute_uri("/").rstrip("/")
        return super().get_queryset(request).annotate(console_root=Value(root, output_field=CharField()))

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "slug", "base_url", "query_string_auth"]}),
                    (_("Credentials (stored encrypted, never shown back)"), {"fields": list(SECRETS)})]
        if self.has_change_permission(request, obj):
            secrets = list(SECRETS)
        else:  # read-only pages display fields as they are: show the masks instead
            secrets = [f"{name}_masked" for name in SECRETS]
        return [(None, {"fields": ["name", "slug", "base_url", "webhook_url", "query_string_auth", "is_active",
                                   "created_at", "last_sync"]}),
                (_("Credentials (stored encrypted, never shown back)"), {"fields": secrets})]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["slug", "webhook_url", "created_at", "last_sync", *(f"{name}_masked" for name in SECRETS)]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not self.has_change_permission(request, obj):
            kwargs["form"] = forms.ModelForm  # nothing to edit: no secret fields at all
        return super().get_form(request, obj, change, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # orders and deliveries refer to the store: deactivate it instead

    @method_decorator(sensitive_post_parameters(*SECRETS))  # typed secrets stay out of error pages
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def has_operate_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE)

    # A new store goes through store_connect, like `manage.py connect_store`.
    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        data = form.cleaned_data
        return store_connect(
            name=data["name"], slug=data["slug"], base_url=data["base_url"], consumer_key=data["consumer_key"],
            consumer_secret=data["consumer_secret"], webhook_secret=data["webhook_secret"],
            query_string_auth=data["query_string_auth"], actor=Actor.for_user(request.user),
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(request, _("Webhook delivery URL to enter in WooCommerce: %(url)s") % {
            "url": request.build_absolute_uri(obj.webhook_path())})
        return super().response_add(request, obj, post_url_continue)

    @display(description=_("webhook URL"))
    def webhook_url(self, obj):
        return f"{getattr(obj, 'console_root', '')}{obj.webhook_path()}"

    @display(description=_("last sync"))
    def last_sync(self, obj):
        try:
            cursor = obj.sync_cursor
        except ObjectDoesNotExist:
            return _("never")
        when = cursor.last_success_at or cursor.last_run_at
        when = when_html(when) if when else _("never")
        return format_html(_("{} (last attempt failed)"), when) if cursor.last_error else when

    @display(description=_("consumer key"))
    def consumer_key_masked(self, obj):
        return mask(obj.consumer_key)

    @display(description=_("consumer secret"))
    def consumer_secret_masked(self, obj):
        return mask(obj.consumer_secret)

    @display(description=_("webhook secret"))
    def webhook_secret_masked(self, obj):
        return mask(obj.webhook_secret)

    def _sync(self, request, stores):
        queued = []
        for store in stores:
            if not store.is_active:
                messages.warning(request, _("%(store)s is not active: not synced.") % {"store": store})
                continue
            transaction.on_commit(partial(backfill_store.delay, store.pk))
            queued.append(store.name)
        if queued:
            messages.success(request, _("Sync queued for %(stores)s; see Sync runs for its progress.") % {
                "stores": ", ".join(queued)})

    @admin.action(description=_("Sync now (REST backfill from the cursor)"), permissions=["operate"])
    def sync_now(self, request, queryset):
        self._sync(request, queryset)

    @action(description=_("Sync now"), url_path="sync-now", icon="sync", permissions=["operate"],
            dialog={"title": _("Sync this store now?"),
                    "description": _("Reads the shop's orders modified since the store's cursor, in the background.")})
    def sync_now_detail(self, request, form, object_id):
        store = get_object_or_404(self.get_queryset(request), pk=object_id)
        self._sync(request, [store])
        return hx_redirect(request, reverse("admin:integrations_storeconnection_change", args=[store.pk]))


# --- status mappings ----------------------------------------------------------------------------
class StatusMappingForm(forms.ModelForm):
    class Meta:
        model = StatusMapping
        fields = ["store", "raw_status", "canonical"]

    def clean_raw_status(self):
        # As the service stores it ("wc-Shipped" → "shipped"), so the unique check sees the real key.
        key = statuses.map_status(self.cleaned_data["raw_status"], {}).key
        if not key:
            raise forms.ValidationError(_("Enter the status as WooCommerce reports it."))
        return key


@admin.register(StatusMapping)
class StatusMappingAdmin(MappingThroughServiceMixin, SimpleHistoryAdmin, AftercareAdmin):
    form = StatusMappingForm
    list_display = ["store", "raw_status", "canonical_label"]
    list_filter = ["store", "canonical"]
    search_fields = ["raw_status"]
    search_help_text = _("Raw WooCommerce status, e.g. shipped.")
    fields = ["store", "raw_status", "canonical"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store").defer(*STORE_SECRETS)

    def get_readonly_fields(self, request, obj=None):
        return ["store", "raw_status"] if obj else []  # another status is another mapping

    def get_changeform_initial_data(self, request):
        """`?store_slug=main&raw_status=shipped` fills the add form in: the customer screen's note on an
        order waiting for a mapping links here (it knows the store by the order's namespace, a slug)."""
        initial = super().get_changeform_initial_data(request)
        slug = initial.pop("store_slug", None)
        if slug:
            initial["store"] = StoreConnection.objects.filter(slug=slug).values_list("pk", flat=True).first()
        return initial

    change_permission = "integrations.change_statusmapping"

    def map_status(self, obj, actor):
        """Through status_mapping_set: history, the per-process cache, and the waiting orders follow."""
        return status_mapping_set(store=obj.store, raw_status=obj.raw_status, canonical=obj.canonical, actor=actor)

    def saved_mapping(self, obj):
        return StatusMapping.objects.get(store=obj.store, raw_status=obj.raw_status)

    @display(description=_("maps to"), ordering="canonical")
    def canonical_label(self, obj):
        return obj.get_canonical_display()
