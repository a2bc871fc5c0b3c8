"""The CRM's outbox in the admin: every change on its way to the CRM, pending, delivered or dead,
how old it is and why it failed; operations replay dead letters (outbound_messages_replay). Only
the outbox's services write messages: read only here."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.decorators import action, display
from unfold.views import ChangeList

from console.admin.base import AftercareAdmin, ViewOnlyMixin, when_column
from console.admin.integrations import hx_redirect
from integrations.crm.models import OutboundMessage
from integrations.crm.outbox import OPERATE, outbound_messages_replay
from lifecycle.actors import Actor
from lifecycle.models import Agent, Order, OrderState, Stage, Team
from lifecycle.services.errors import PermissionDenied

M = OutboundMessage.State
STATE_COLORS = {M.PENDING: "info", M.DELIVERED: "success", M.SUPERSEDED: "default", M.SKIPPED: "warning",
                M.DEAD: "danger"}
MAX_REPLAY = 1_000  # one UPDATE whatever the number; a cap keeps "select all" from surprising anyone
FIELDS = ["connection", "customer", "field_label", "change", "state_badge", "attempts", "created", "next_attempt",
          "delivered", "error_kind", "last_error", "idempotency_key"]


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(M.PENDING, _("Pending")), (M.DEAD, _("Dead letters")), (M.DELIVERED, _("Delivered")),
                (M.SUPERSEDED, _("Superseded by a newer change")), (M.SKIPPED, _("Not sent"))]

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() in M.values else queryset


def names_load(messages):
    """Give each message the agent, team and order names its change reads, in three queries for them all."""
    owners = [m.value for m in messages if m.field == OutboundMessage.Field.OWNER]
    agents, teams, orders = {}, {}, {}
    if owners:
        agents = {a.pk: str(a) for a in Agent.objects.select_related("user").filter(
            pk__in={v.get("agent") for v in owners} - {None})}
        teams = dict(Team.objects.filter(pk__in={v.get("team") for v in owners}).values_list("pk", "name"))
    deal_orders = {m.order_id for m in messages if m.field == OutboundMessage.Field.DEAL}
    if deal_orders:
        orders = dict(Order.objects.filter(pk__in=deal_orders).values_list("pk", "number"))
    for message in messages:
        message.names = {"agents": agents, "teams": teams, "orders": orders}


class OutboxChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        names_load(self.result_list)  # the page's names at once, no query per row


def change_text(message):
    """The change in words: "Owner: Ada Lovelace (Success)", "Lifecycle stage: Onboarding", "Deal of order
    #1042: Paid"."""
    if not hasattr(message, "names"):
        names_load([message])
    value, names = message.value, message.names
    if message.field == OutboundMessage.Field.OWNER:
        team = names["teams"].get(value.get("team"), _("a team"))
        if value.get("agent") is None:
            return _("Owner: %(team)s, no agent yet") % {"team": team}
        agent = names["agents"].get(value["agent"], _("agent #%(id)s") % {"id": value["agent"]})
        return _("Owner: %(agent)s (%(team)s)") % {"agent": agent, "team": team}
    if message.field == OutboundMessage.Field.STAGE:
        stage = value.get("stage")
        return _("Lifecycle stage: %(stage)s") % {"stage": Stage(stage).label if stage in Stage.values else stage}
    if message.field == OutboundMessage.Field.DEAL:
        state = value.get("state")
        return _("Deal of order #%(number)s: %(state)s") % {
            "number": names["orders"].get(message.order_id, message.order_id),
            "state": OrderState(state).label if state in OrderState.values else state}
    return _("New contact: %(name)s") % {"name": value.get("name") or _("no name")}


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ViewOnlyMixin, AftercareAdmin):
    list_display = [when_column("created_at", _("written")), "customer", "change", "state_label", "attempts",
                    "next_attempt", "error_short"]
    list_filter = [StateFilter, "field", "connection"]
    list_select_related = ["customer"]
    search_fields = ["=customer__email", "=idempotency_key"]
    search_help_text = _("The customer's email, or a message's idempotency key.")
    fields = FIELDS
    readonly_fields = FIELDS
    actions = ["replay"]
    actions_detail = ["replay_detail"]

    def get_changelist(self, request, **kwargs):
        return OutboxChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection", "customer").defer("connection__token")

    def has_replay_permission(self, request, obj=None):
        return request.user.has_perm(OPERATE)

    @display(description=_("change"))
    def change(self, obj):
        return change_text(obj)

    @display(description=_("what"), ordering="field")
    def field_label(self, obj):
        return obj.get_field_display()

    @display(description=_("state"), ordering="state", label=STATE_COLORS)
    def state_label(self, obj):
        return obj.state, obj.get_state_display()

    @display(description=_("state"))
    def state_badge(self, obj):
        return obj.get_state_display()

    @display(description=_("last error"))
    def error_short(self, obj):
        return obj.last_error[:120] if obj.state != M.DELIVERED else ""

    @display(description=_("written"))
    def created(self, obj):
        return when_column("created_at")(obj)

    @display(description=_("next attempt"), ordering="next_attempt_at")
    def next_attempt(self, obj):
        return when_column("next_attempt_at")(obj) if obj.state == M.PENDING else "—"

    @display(description=_("delivered"))
    def delivered(self, obj):
        return when_column("delivered_at")(obj) or "—"

    def _replay(self, request, ids):
        try:
            count = outbound_messages_replay(messages=ids, actor=Actor.for_user(request.user))
        except PermissionDenied as error:
            messages.error(request, str(error))
            return
        if count:
            messages.success(request, ngettext(
                "%(n)d dead letter is pending again; a newer change of the same customer and field (or order) "
                "replaces it.",
                "%(n)d dead letters are pending again; where a newer change of the same customer and field (or "
                "order) exists, that one is sent instead.", count) % {"n": count})
        else:
            messages.warning(request, _("Nothing to replay: only dead letters are replayed."))

    @admin.action(description=_("Replay selected dead letters"), permissions=["replay"])
    def replay(self, request, queryset):
        ids = list(queryset.filter(state=M.DEAD).values_list("pk", flat=True)[:MAX_REPLAY + 1])
        if len(ids) > MAX_REPLAY:
            messages.error(request, _("Replay at most %(n)d dead letters at once.") % {"n": MAX_REPLAY})
            return
        self._replay(request, ids)

    @action(description=_("Replay"), url_path="replay", icon="replay", permissions=["replay"],
            dialog={"title": _("Replay this dead letter?"),
                    "description": _("It is sent again with the next delivery, unless a newer change of the same "
                                     "customer and field has been written since.")})
    def replay_detail(self, request, form, object_id):
        message = get_object_or_404(self.get_queryset(request), pk=object_id)
        self._replay(request, [message.pk])
        return hx_redirect(request, reverse("admin:crm_outboundmessage_change", args=[message.pk]))
