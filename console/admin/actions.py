"""Admin actions. Each one collects input on an intermediate page and calls a service, so every
write carries the user as actor, passes the service's permission checks and lands on the timeline.

The same pages serve the changelist (bulk, through Django's action machinery) and the customer's
change page (one customer, through unfold's actions_detail).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition

from console.admin.base import owner_of
from console.admin.forms import MoveStageForm, ReassignOwnerForm
from lifecycle.actors import Actor
from lifecycle.models import STAGE_TRANSITIONS
from lifecycle.services.agents import agent_set_availability
from lifecycle.services.errors import ServiceError
from lifecycle.services.ownership import owner_reassign
from lifecycle.services.stages import customer_move_stage

TEMPLATE = "admin/lifecycle/customer/customer_action.html"
# Each customer is its own transaction with a row lock, a handoff and a timeline event: a request
# should stay short, so larger batches are refused rather than half-done by a timed-out request.
MAX_BATCH = 200
REFUSED = (ServiceError, PermissionDenied, ConcurrentTransition)


# --- what the user saw ------------------------------------------------------------------------
def seen_owner(customer):
    """The owner shown on the page, sent back with the form: "team:agent", "team:" or "" (none)."""
    ownership = owner_of(customer)
    if ownership is None:
        return ""
    return f"{ownership.team_id}:{ownership.agent_id or ''}"


def parse_seen(value):
    """Inverse of seen_owner, as the `expected` the service compares with; raises ValueError."""
    if value == "":
        return None
    team_id, agent_id = value.split(":")
    return int(team_id), int(agent_id) if agent_id else None


# --- the page ---------------------------------------------------------------------------------
def render_page(modeladmin, request, customers, *, form, title, submit_label, bulk_action=None):
    show_owner = request.user.has_perm("lifecycle.view_ownership")
    headers = [_("Customer"), _("Stage")] + ([_("Current owner")] if show_owner else [])
    rows = []
    for customer in customers:
        row = [str(customer), customer.get_stage_display()]
        if show_owner:
            row.append(str(owner_of(customer) or _("nobody")))
        rows.append(row)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        "media": modeladmin.media + form.media,
        "form": form,
        "table": {"headers": headers, "rows": rows},
        "customers": [(customer, seen_owner(customer)) for customer in customers],
        "bulk_action": bulk_action,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
    }
    return TemplateResponse(request, TEMPLATE, context)


def _too_many(request, customers):
    if len(customers) > MAX_BATCH:
        messages.error(request, _("Select at most %(n)d customers at once.") % {"n": MAX_BATCH})
        return True
    return False


# --- reassign owner ---------------------------------------------------------------------------
def reassign_page(modeladmin, request, customers, *, submitted, bulk_action=None):
    """None once the form was applied (the caller redirects), else the page to show."""
    form = ReassignOwnerForm(request.POST if submitted else None, customers=customers)
    if submitted and form.is_valid():
        apply_reassign(request, customers, form.cleaned_data)
        return None
    return render_page(modeladmin, request, customers, form=form, title=_("Reassign owner"),
                       submit_label=_("Reassign"), bulk_action=bulk_action)


def apply_reassign(request, customers, data):
    actor = Actor.for_user(request.user)
    changed = unchanged = 0
    for customer in customers:
        try:
            expected = parse_seen(request.POST[f"seen_{customer.pk}"])
        except (KeyError, ValueError):
            messages.error(request, _("%(c)s: the page was out of date; open it again.") % {"c": customer})
            continue
        try:
            handoff = owner_reassign(customer=customer, team=data["team"], agent=data["agent"],
                                     reason=data["reason"], actor=actor, expected=expected)
        except PermissionDenied as error:
            # Same answer for every customer: say it once.
            messages.error(request, str(error) or _("You may not reassign owners."))
            return
        except REFUSED as error:
            messages.error(request, f"{customer}: {error}")
            continue
        if handoff is None:
            unchanged += 1
        else:
            changed += 1
    new_owner = f"{data['team']} / {data['agent'] or _('unassigned')}"
    if changed:
        messages.success(request, ngettext(
            "Reassigned %(n)d customer to %(owner)s.", "Reassigned %(n)d customers to %(owner)s.", changed,
        ) % {"n": changed, "owner": new_owner})
    if unchanged:
        messages.info(request, ngettext(
            "%(n)d customer already had this owner.", "%(n)d customers already had this owner.", unchanged,
        ) % {"n": unchanged})


@admin.action(description=_("Reassign owner"), permissions=["reassign_owner"])
def reassign_owner(modeladmin, request, queryset):
    customers = list(queryset)
    if _too_many(request, customers):
        return None
    return reassign_page(modeladmin, request, customers, submitted="apply" in request.POST,
                         bulk_action="reassign_owner")


# --- move stage -------------------------------------------------------------------------------
def move_stage_page(modeladmin, request, customers, *, submitted, bulk_action=None):
    form = MoveStageForm(request.POST if submitted else None, stages={c.stage for c in customers})
    if submitted and form.is_valid():
        apply_move_stage(request, customers, form.cleaned_data)
        return None
    return render_page(modeladmin, request, customers, form=form, title=_("Move stage"),
                       submit_label=_("Move"), bulk_action=bulk_action)


def apply_move_stage(request, customers, data):
    actor = Actor.for_user(request.user)
    transition = data["transition"]
    moved = 0
    for customer in customers:
        try:
            customer_move_stage(customer=customer, transition=transition, actor=actor, reason=data["reason"])
        except PermissionDenied as error:
            messages.error(request, str(error) or _("You may not make this stage move."))
            return
        except REFUSED as error:
            messages.error(request, f"{customer}: {error}")
            continue
        moved += 1
    if moved:
        label = STAGE_TRANSITIONS[transition].custom["label"]
        messages.success(request, ngettext(
            "%(label)s: moved %(n)d customer.", "%(label)s: moved %(n)d customers.", moved,
        ) % {"label": label, "n": moved})


@admin.action(description=_("Move stage"), permissions=["move_stage"])
def move_stage(modeladmin, request, queryset):
    customers = list(queryset)
    if _too_many(request, customers):
        return None
    return move_stage_page(modeladmin, request, customers, submitted="apply" in request.POST,
                           bulk_action="move_stage")


# --- agents -----------------------------------------------------------------------------------
def set_availability(request, agents, *, available):
    """Through the service, agent by agent: going away hands each agent's customers and open
    exceptions on by the routing rules (each in its own transaction; see lifecycle/services/agents.py).
    Returns the number of agents changed, the moves made and the refusals ("agent: reason")."""
    actor = Actor.for_user(request.user)
    changed, moves, refused = 0, [], []
    for agent in agents:
        try:
            moves += agent_set_availability(agent=agent, available=available, actor=actor)
        except REFUSED as error:
            refused.append(f"{agent}: {error}")
            continue
        changed += 1
    return changed, moves, refused


def report_availability(request, *, available, changed, moves, refused):
    if changed and available:
        messages.success(request, ngettext(
            "%d agent marked available.", "%d agents marked available.", changed) % changed)
    elif changed:
        customers = sum(1 for move in moves if move.kind == "customer")
        exceptions = len(moves) - customers
        messages.success(request, _("%(agents)s marked away; %(customers)s and %(exceptions)s handed on.") % {
            "agents": ngettext("%d agent", "%d agents", changed) % changed,
            "customers": ngettext("%d customer", "%d customers", customers) % customers,
            "exceptions": ngettext("%d open exception", "%d open exceptions", exceptions) % exceptions,
        })
    if refused:
        messages.error(request, ngettext(
            "%(n)d agent was not marked %(state)s: %(why)s.", "%(n)d agents were not marked %(state)s: %(why)s.",
            len(refused),
        ) % {"n": len(refused), "state": _("available") if available else _("away"),
             "why": "; ".join(why.rstrip(".") for why in refused)})


@admin.action(description=_("Mark available (on shift)"), permissions=["change"])
def mark_available(modeladmin, request, queryset):
    changed, moves, refused = set_availability(request, queryset.select_related("user"), available=True)
    report_availability(request, available=True, changed=changed, moves=moves, refused=refused)


@admin.action(description=_("Mark away (off shift)"), permissions=["change"])
def mark_away(modeladmin, request, queryset):
    changed, moves, refused = set_availability(request, queryset.select_related("user"), available=False)
    report_availability(request, available=False, changed=changed, moves=moves, refused=refused)
