"""What came in from the shops: every webhook delivery as it arrived (rejected, malformed and ignored
ones too), for operators to inspect and replay, and the REST backfill's runs and cursors. Only the
receiver, the processing services and the backfill write them: all read-only here."""

import json
import logging
from collections import Counter

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import action, display
from unfold.views import ChangeList

from console.admin.base import AftercareAdmin, ViewOnlyMixin, when_column
from console.admin.integrations import OPERATE, STORE_SECRETS, STORE_VIEW, hx_redirect
from integrations.models import InboundEvent, SyncCursor, SyncRun
from integrations.woocommerce.processing import WAITING, ReplayRefused, inbound_event_replay
from integrations.woocommerce.webhooks import HANDLED_TOPICS

log = logging.getLogger(__name__)
S = InboundEvent.Status
STATUS_COLORS = {S.RECEIVED: "info", S.PROCESSED: "success", S.DUPLICATE: "primary", S.STALE: "warning",
                 S.IGNORED: "default", S.REJECTED: "danger", S.MALFORMED: "danger", S.FAILED: "danger"}
PROBLEMS = (S.FAILED, S.REJECTED, S.MALFORMED)
MAX_REPLAY = 100  # one transaction each, in the request
BODY_LIMIT = 64 * 1024  # bytes shown of a body; WooCommerce orders are a few KB, a runaway body is not
EVENT_FIELDS = ["store", "topic", "status_badge", "reason", "received_at", "processed_at", "attempts", "resource",
                "resource_id", "delivery_id", "modified_gmt", "dedupe_key", "body_sha256", "body_size",
                "headers_pretty", "body_pretty"]


class AttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("problems", _("Failed, rejected or malformed")), ("waiting", _("Waiting or failed"))]

    def queryset(self, request, queryset):
        if self.value() == "problems":
            return queryset.filter(status__in=PROBLEMS)
        if self.value() == "waiting":
            return queryset.filter(status__in=WAITING)
        return queryset


class TopicFilter(admin.SimpleListFilter):
    """The topics the receiver handles, and the rest: no DISTINCT over the whole table per page view."""

    title = _("topic")
    parameter_name = "topic"

    def lookups(self, request, model_admin):
        return [(topic, topic) for topic in sorted(HANDLED_TOPICS)] + [("other", _("Other (not handled)"))]

    def queryset(self, request, queryset):
        if self.value() == "other":
            return queryset.exclude(topic__in=HANDLED_TOPICS)
        if self.value():
            return queryset.filter(topic=self.value())
        return queryset


class DeliveryChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # The list never shows bodies: leave them (up to megabytes each) in the database.
        return super().get_queryset(request, exclude_parameters).defer("body", "headers")


def status_badge(obj, colors):
    """The status as the lists show it (unfold's label), for the change page: its readonly fields print a
    @display(label=...) method's (value, text) tuple as a tuple."""
    return render_to_string("unfold/helpers/label.html", {"text": obj.get_status_display(),
                                                          "type": colors.get(obj.status, "default")})


def body_text(raw):
    """The body as text: pretty JSON when it parses, else as received; huge bodies cut with a note."""
    raw = bytes(raw)
    if len(raw) > BODY_LIMIT:
        text = raw[:BODY_LIMIT].decode("utf-8", errors="replace")
        return f"{text}\n\n… cut: the first {BODY_LIMIT:,} of {len(raw):,} bytes"
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read (a malformed delivery)
        return raw.decode("utf-8", errors="replace")
    return text if len(text) <= 2 * BODY_LIMIT else f"{text[:2 * BODY_LIMIT]}\n\n… cut"


@admin.register(InboundEvent)
class InboundEventAdmin(ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("received_at", _("received")), "store", "topic", "resource_id", "status_label",
                    "reason_short", "attempts"]
    list_filter = [AttentionFilter, "status", TopicFilter, "store", ("received_at", RangeDateTimeFilter)]
    search_fields = ["=resource_id", "=delivery_id"]
    search_help_text = _("WooCommerce order or customer id, or the delivery id (X-WC-Webhook-Delivery-ID).")
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    actions = ["replay"]
    actions_detail = ["replay_detail"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store").defer(*STORE_SECRETS)

    def get_changelist(self, request, **kwargs):
        return DeliveryChangeList

    def has_replay_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE)

    @display(description=_("status"), ordering="status", label=STATUS_COLORS)
    def status_label(self, obj):
        return obj.status, obj.get_status_display()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # the page title reads the status's label, not the model's raw "(processed)"
            context["subtitle"] = f"{obj.topic or _('delivery')} #{obj.pk} ({obj.get_status_display()})"
        return super().render_change_form(request, context, add, change, form_url, obj)

    @display(description=_("status"))
    def status_badge(self, obj):
        return status_badge(obj, STATUS_COLORS)

    @display(description=_("reason"))
    def reason_short(self, obj):
        return obj.reason[:120]

    @display(description=_("body size"))
    def body_size(self, obj):
        return f"{len(obj.body):,} bytes"

    @display(description=_("headers"))
    def headers_pretty(self, obj):
        return format_html("<pre class='whitespace-pre-wrap text-xs'>{}</pre>",
                           json.dumps(obj.headers, indent=2, sort_keys=True, ensure_ascii=False))

    @display(description=_("body"))
    def body_pretty(self, obj):
        return format_html("<pre class='whitespace-pre-wrap break-all text-xs max-h-[60vh] overflow-auto'>{}</pre>",
                           body_text(obj.body))

    # --- replay ----------------------------------------------------------------------------------
    def _replay(self, request, events):
        """Each event through inbound_event_replay; the operator sees every outcome."""
        outcomes = Counter()
        for event in events:
            try:
                outcome = inbound_event_replay(event_id=event.pk)
            except ReplayRefused as refused:
                messages.warning(request, _("%(event)s not replayed: %(why)s.") % {"event": event, "why": refused})
                continue
            except Exception as error:  # noqa: BLE001 -- the operator sees it; the event keeps it as its reason
                log.exception("replay of inbound event %s failed", event.pk)
                messages.error(request, _("%(event)s failed again: %(error)s") % {"event": event, "error": error})
                continue
            label = S(outcome).label
            self.log_change(request, event, f"Replayed: {label}")
            outcomes[label] += 1
        if outcomes:
            summary = ", ".join(f"{n} {label.lower()}" for label, n in outcomes.most_common())
            messages.success(request, _("Replayed %(n)d: %(summary)s.") % {"n": outcomes.total(), "summary": summary})

    @admin.action(description=_("Replay selected deliveries"), permissions=["replay"])
    def replay(self, request, queryset):
        events = list(queryset.order_by("received_at", "pk")[:MAX_REPLAY + 1])  # oldest first, as they came
        if len(events) > MAX_REPLAY:
            messages.error(request, _("Replay at most %(n)d deliveries at once.") % {"n": MAX_REPLAY})
            return
        self._replay(request, events)

    @action(description=_("Replay"), url_path="replay", icon="replay", permissions=["replay"],
            dialog={"title": _("Replay this delivery?"),
                    "description": _("A delivery waiting or failed is processed now; one already processed runs "
                                     "through the same idempotent path again, which changes nothing.")})
    def replay_detail(self, request, form, object_id):
        event = get_object_or_404(self.get_queryset(request).defer("body"), pk=object_id)
        self._replay(request, [event])
        return hx_redirect(request, reverse("admin:integrations_inboundevent_change", args=[event.pk]))


# --- REST backfill ------------------------------------------------------------------------------
class StoreOperationsView:
    """Whoever sees the stores sees their backfill (the groups grant no separate permission)."""

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(STORE_VIEW)


SYNC_COLORS = {SyncRun.Status.RUNNING: "info", SyncRun.Status.SUCCEEDED: "success",
               SyncRun.Status.FAILED: "danger", SyncRun.Status.ABANDONED: "warning"}
RUN_FIELDS = ["store", "status_badge", "actor_ref", "started_from", "started_at", "updated_at", "finished_at", "pages",
              "orders_seen", "applied", "stale", "ignored", "failed", "error", "webhooks"]


@admin.register(SyncRun)
class SyncRunAdmin(StoreOperationsView, ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("started_at", _("started")), "store", "status_label", "pages", "orders_seen", "applied",
                    "stale", "failed", when_column("finished_at", _("finished")), "error_short"]
    list_filter = ["status", "store"]
    date_hierarchy = "started_at"
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store").defer(*STORE_SECRETS)

    @display(description=_("status"), ordering="status", label=SYNC_COLORS)
    def status_label(self, obj):
        return obj.status, obj.get_status_display()

    @display(description=_("status"))
    def status_badge(self, obj):
        return status_badge(obj, SYNC_COLORS)

    @display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:120]


CURSOR_FIELDS = ["store", "modified_after", "page", "run", "last_run_at", "last_success_at", "last_error"]


@admin.register(SyncCursor)
class SyncCursorAdmin(StoreOperationsView, ViewOnlyMixin, AftercareAdmin):
    list_display = ["store", when_column("modified_after", _("modified after"), style="absolute"), "page", "run",
                    when_column("last_run_at", _("last run")), when_column("last_success_at", _("last success")),
                    "last_error"]
    fields = CURSOR_FIELDS
    readonly_fields = CURSOR_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store", "run__store").defer(
            *STORE_SECRETS, *(f"run__{name}" for name in STORE_SECRETS))
