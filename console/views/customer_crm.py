"""The CRM on the customer screen, in sentences: beside the console's owner and stage, what HubSpot
says (its owner by name, its stage by label, when last synced), where the two differ and what tracks
that, and any change on its way there or dead; in the orders' CRM column, each deal's stage.

Agents answer "who owns this customer?" from this screen, and a second owner in the CRM is exactly
what they must not miss: a difference is said in words with what tracks it, a difference the
outbox is about to remove says that instead, and a dead change says what failed and who replays it.
The data come from console/selectors/crm.py as columns of the screen's read of its customer (no
query of their own), plus one query while a change is pending or dead; without an active CRM
connection nothing is shown.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from console.selectors import crm
from console.templatetags.when import when
from integrations.crm.models import OutboundMessage
from integrations.crm.outbox import OPERATE
from lifecycle.models import Customer, OrderState, Stage, System
from lifecycle.selectors import customers as screen
from lifecycle.selectors.waiting import SEE_EXCEPTIONS

F, M = OutboundMessage.Field, OutboundMessage.State
VIEW_OUTBOX = "crm.view_outboundmessage"
LINK = "text-primary-600 dark:text-primary-500"
# HubSpot's default deal pipeline, as HubSpot labels its stages (an account's own pipeline has
# numeric ids and labels the console does not read: those show as their id).
DEAL_STAGE_LABELS = {
    "appointmentscheduled": "Appointment Scheduled", "qualifiedtobuy": "Qualified To Buy",
    "presentationscheduled": "Presentation Scheduled", "decisionmakerboughtin": "Decision Maker Bought-In",
    "contractsent": "Contract Sent", "closedwon": "Closed Won", "closedlost": "Closed Lost",
}
DEAL_REF = "/deal:"
SOON = timedelta(minutes=1)  # the when filter's "just now": a retry due sooner is "within a minute"  # a deal's event_ref: "crm:<connection>/deal:<id>" (integrations/crm/deals.py)


@dataclass
class Note:
    kind: str  # "differs", "pending", "waiting", "dead": the template's colour and icon
    text: str


@dataclass
class CrmBlock:
    """What the owner section says of the CRM (console/customer/crm.html)."""

    name: str  # the connection's name: "HubSpot"
    in_crm: bool
    said: str  # "crm": what HubSpot said; "sent": what the console last sent, HubSpot not read yet
    owner: str  # in words
    stage: str
    contact_id: str
    synced_at: object
    notes: list = field(default_factory=list)
    differs: bool = False


def _ownership(customer):
    try:
        return customer.ownership
    except Customer.ownership.RelatedObjectDoesNotExist:
        return None


def crm_columns(user):
    """What the customer screen's read of its customer adds for this section (console/selectors/crm.py):
    the open conflicts only for users who may read exceptions (operations never read them)."""
    return partial(crm.with_crm, detail=True, conflicts=user.has_perm(SEE_EXCEPTIONS))


def crm_block(user, customer, *, show_owner=True):
    """The CRM side of the customer's owner and stage, or None without an active CRM connection. The
    customer was read with crm_columns; one query more while a change is pending or dead.

    `show_owner`: False for users who may not read owners (operations): the sync, the stage and the
    changes on their way, the CRM's owner left out (the outbox they may read names the changes' agents)."""
    side = crm.crm_side(customer, detail=True)
    if side is None:
        return None
    if side.in_flight:
        crm.customer_changes(side, customer.pk)
    ownership = _ownership(customer) if show_owner else None
    agent = ownership.agent if ownership is not None and ownership.agent_id else None
    return _block(user, customer, agent, side, show_owner)


def _owner_words(side):
    if not side.owner_id:
        return gettext("no owner")
    if side.owner_name:
        return side.owner_name
    return gettext("HubSpot owner %(id)s, whom no agent here is linked to") % {"id": side.owner_id}


def _block(user, customer, agent, side, show_owner):
    block = CrmBlock(name=side.connection_name, in_crm=bool(side.said), said=side.said,
                     owner=_owner_words(side) if show_owner else "", stage=side.stage_label or gettext("no stage"),
                     contact_id=side.contact_id, synced_at=side.synced_at)
    sending = {change.field for change in side.changes if change.state == M.PENDING}
    if not show_owner:
        sending.add(F.OWNER)  # nothing said of owners
    if side.said == "crm":
        for note in _differences(user, customer, agent, side, sending):
            block.notes.append(note)
            block.differs = True
    for change in side.changes:
        block.notes.append(_change_note(user, customer, side, change))
    return block


def _conflict_words(user, conflict_id):
    if conflict_id is None:
        return ""
    tracked = gettext("an open ownership conflict tracks it")
    if user.has_perm(SEE_EXCEPTIONS):
        tracked = format_html('<a href="#exceptions" class="{}" data-crm-conflict>{}</a>', LINK, tracked)
    return format_html(gettext("; {}"), tracked)


def _differences(user, customer, agent, side, sending):
    """Where HubSpot's owner or stage is not the console's, unless a change on its way removes it."""
    name = side.connection_name
    if F.OWNER not in sending and side.owner_id != (side.expected_owner_id or ""):
        if agent is None:
            ownership = _ownership(customer)
            console = (format_html(gettext("nobody yet ({} has no agent for the customer)"), ownership.team)
                       if ownership is not None else gettext("nobody yet"))
        elif side.expected_owner_id is None:
            console = format_html(gettext("{}, who has no {} owner with their email"), agent, name)
        else:
            console = str(agent)
        crm_owner = (format_html(gettext("{} names {} as the owner"), name, _owner_words(side)) if side.owner_id
                     else format_html(gettext("{} names no owner"), name))
        yield Note("differs", format_html(gettext("{}; the console's is {}{}."), crm_owner, console,
                                          _conflict_words(user, side.owner_conflict_id)))
    if F.STAGE not in sending and side.expected_stage and side.stage != side.expected_stage:
        crm_stage = (format_html(gettext("{}'s stage is {}"), name, side.stage_label) if side.stage
                     else format_html(gettext("{} has no lifecycle stage"), name))
        yield Note("differs", format_html(
            gettext("{}; the console's {} is {} there{}."), crm_stage, customer.get_stage_display(),
            side.expected_stage_label, _conflict_words(user, side.stage_conflict_id)))


def change_words(change, customer=None, side=None):
    """The change in a few words: "owner → Sam Rivera", "lifecycle stage → At risk (Customer in HubSpot)"
    (what the stage becomes there, when it is the customer's stage now), "new contact"."""
    if change.field == F.OWNER:
        if change.value.get("agent") is None:
            return gettext("owner → nobody (%(team)s has no agent for the customer yet)") % {
                "team": change.team_name or gettext("the team")}
        return gettext("owner → %(agent)s") % {"agent": change.agent_name or gettext("an agent")}
    if change.field == F.STAGE:
        stage = change.value.get("stage")
        words = gettext("lifecycle stage → %(stage)s") % {"stage": Stage(stage).label if stage in Stage.values
                                                           else stage}
        if side is not None and side.expected_stage and customer is not None and stage == customer.stage:
            words += gettext(" (%(label)s in %(crm)s)") % {"label": side.expected_stage_label,
                                                           "crm": side.connection_name}
        return words
    return gettext("new contact")


def _sentence(text):
    text = (text or "").strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def _change_note(user, customer, side, change):
    name, words = side.connection_name, change_words(change, customer, side)
    if change.state == M.DEAD:
        url = reverse("admin:crm_outboundmessage_change", args=[change.pk])
        if user.has_perm(OPERATE):
            replay = format_html(gettext('<a href="{}" class="{}" data-crm-outbox>Replay it in the CRM outbox</a>.'),
                                 url, LINK)
        elif user.has_perm(VIEW_OUTBOX):
            replay = format_html(gettext('Operations can replay it in the <a href="{}" class="{}" data-crm-outbox>'
                                         'CRM outbox</a>.'), url, LINK)
        else:
            replay = gettext("Operations can replay it in the CRM outbox.")
        return Note("dead", format_html(gettext("Not delivered to {}: {}, written {}. {} {}"), name, words,
                                        when(change.created_at), _sentence(change.last_error), replay))
    sending = format_html(gettext("Sending to {}: {}, queued {}."), name, words, when(change.created_at))
    if not change.error_kind:
        return Note("pending", sending)
    if change.attempts:
        soon = change.next_attempt_at - timezone.now() < SOON
        more = format_html(gettext("The last try failed: {} Next try {}."), _sentence(change.last_error),
                           gettext("within a minute") if soon else when(change.next_attempt_at))
    else:  # held back without a try: an agent without a HubSpot owner, a refused token
        more = format_html(gettext("It waits: {}"), _sentence(change.last_error))
    return Note("waiting", format_html_join(" ", "{}", ((sending,), (more,))))


# --- the orders' CRM column -------------------------------------------------------------------
def crm_cells(rows, now, tolerance_note):
    """Say in words what each CRM cell of the page says: the deal's stage by HubSpot's label, what it
    means under the deal stage mapping, the deal that carried it, and the tolerance rules broken (as
    the ERP's cells; `tolerance_note` words one). No query."""
    for row in rows:
        for cell in row.cells:
            if cell is None or cell.system != System.CRM:
                continue
            cell.raw_text = DEAL_STAGE_LABELS.get(cell.raw_status, cell.raw_status)
            cell.meaning = (gettext("no mapping yet") if cell.mapped == screen.UNMAPPED
                            else OrderState(cell.mapped).label if cell.mapped in OrderState.values else "")
            _, _, deal = (cell.event_ref or "").partition(DEAL_REF)
            # The deal's id only on hover: HubSpot's search finds a deal by it, and a row of ids reads badly.
            cell.carried_by = format_html('<span title="{}">{}</span>', gettext("HubSpot deal %(id)s") % {"id": deal},
                                          gettext("its HubSpot deal")) if deal else None
            cell.tolerance_notes = [tolerance_note(note, now) for note in cell.tolerances]
