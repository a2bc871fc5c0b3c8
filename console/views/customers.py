"""The customer screen: one page per customer inside the admin layout, one section per selector.

Each section is a template include fed by one selector function (lifecycle/selectors/customers.py);
a later issue adds a section by adding one entry to SECTIONS. Writes are POSTs to the two views at
the bottom, which call the stage and queue services and come back here with a message.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import FilteredRelation, IntegerField, Q, Value
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from django_fsm import ConcurrentTransition

from console.admin.customers import STAGE_COLORS
from console.admin.exceptions import countdown
from console.admin.orders import STATE_COLORS as ORDER_STATE_COLORS
from console.templatetags.when import relative, when
from console.views import refusals
from console.views.customer_crm import VIEW_OUTBOX, crm_block, crm_cells, crm_columns
from console.views.home import sla_label
from integrations.erp.models import ErpImport
from integrations.models import StoreConnection
from integrations.woocommerce import statuses
from integrations.woocommerce.status_mappings import status_map_for_store
from lifecycle.actors import Actor, ActorKind
from lifecycle.db.rows import prepared_reads
from lifecycle.models import (
    STAGE_TRANSITIONS,
    Agent,
    Customer,
    ExceptionCase,
    ExceptionStatus,
    OrderState,
    Severity,
    System,
)
from lifecycle.selectors import customers as screen
from lifecycle.selectors import wording
from lifecycle.selectors.pages import decode_cursor
from lifecycle.selectors.visibility import agent_of, exceptions_visible_to
from lifecycle.selectors.waiting import SEE_EXCEPTIONS
from lifecycle.services.errors import ServiceError
from lifecycle.services.queues import exception_assign, exception_claim, exception_close, exception_release
from lifecycle.services.reconcile import status_meanings_of
from lifecycle.services.stages import customer_move_stage
from lifecycle.statuses import CANONICAL, IGNORED, map_status, status_key

TEMPLATE = "console/customer/screen.html"
REFUSED = (ServiceError, PermissionDenied, ConcurrentTransition)
WIDE = "lg:col-span-3"
SEVERITY_COLORS = {Severity.LOW: "info", Severity.NORMAL: "info", Severity.HIGH: "warning", Severity.CRITICAL: "danger"}
# unfold's label (unfold/helpers/label.html), inlined for the per-row labels: an include per row
# costs more than the rest of the row.
LABEL_BASE = "inline-block font-semibold h-6 leading-6 px-2 rounded-default text-[11px] uppercase whitespace-nowrap"
LABEL_CLASSES = {
    "info": "bg-blue-100 text-blue-700 dark:bg-blue-500/20 dark:text-blue-400",
    "danger": "bg-red-100 text-red-700 dark:bg-red-500/20 dark:text-red-400",
    "warning": "bg-orange-100 text-orange-700 dark:bg-orange-500/20 dark:text-orange-400",
    "success": "bg-green-100 text-green-700 dark:bg-green-500/20 dark:text-green-400",
    "primary": "bg-primary-100 text-primary-700 dark:bg-primary-500/20 dark:text-primary-400",
}
LABEL_DEFAULT = "bg-base-500/8 text-base-700 dark:bg-base-500/20 dark:text-base-200"
VIEW_DELIVERIES = "integrations.view_inboundevent"
EXCEPTION_HEADERS = ["Exception", "Queue", "Assignee", "Severity", "SLA", "Status", "Actions"]


# --- sections ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    key: str  # the anchor (#key) and the include's name: console/customer/<key>.html
    title: str
    icon: str  # a Material Symbols name, as unfold's sidebar uses
    load: Any  # (request, customer) → the data the include renders, as `data`
    permission: str | None = None  # a section the user may not read is left out, not emptied
    wide: bool = False
    unless: str | None = None  # left out for users with this permission: another section says it
    optional: bool = False  # left out when its loader has nothing (None) to show

    @property
    def template(self):
        return f"console/customer/{self.key}.html"


def _cursors(request, prefix):
    return {"after": decode_cursor(request.GET.get(f"{prefix}_after")),
            "before": decode_cursor(request.GET.get(f"{prefix}_before"))}


def woocommerce_meanings(pairs):
    """A StatusInterpreter: what each WooCommerce raw status means under its store's mapping (the
    mappings the webhooks apply, cached per process). ERP and CRM statuses are unknown (None) until
    their mappings exist."""
    meanings = []
    for order, state in pairs:
        if state.system != System.WOOCOMMERCE:
            meanings.append(None)
            continue
        result = statuses.map_status(state.raw_status, status_map_for_store(order.namespace))
        meanings.append(result.state if result.outcome == statuses.CANONICAL
                        else screen.UNMAPPED if result.outcome == statuses.UNMAPPED else None)
    return meanings


def order_meanings(pairs):
    """A StatusInterpreter for every system with a mapping: the shop's as woocommerce_meanings says, the
    ERP's and the CRM's deal stages as their integrations registered them with reconciliation
    (status_meanings_register; its per-process cache, so no query once warm)."""
    meanings = woocommerce_meanings(pairs)
    for system in (System.ERP, System.CRM):
        if not any(state.system == system for _, state in pairs):
            continue
        registered = status_meanings_of(system, cached=True)
        for i, (order, state) in enumerate(pairs):
            if state.system != system or not registered:
                continue
            mapping = {**registered.get("", {}), **registered.get(order.namespace, {})}
            result = map_status(state.raw_status, mapping, system=system)
            meanings[i] = (result.state if result.outcome == CANONICAL
                           else None if result.outcome == IGNORED else screen.UNMAPPED)
    return meanings


ERP_IMPORT_REF = "erp-import:"
VIEW_ERP_IMPORTS = "erp.view_erpimport"


def _erp_import_ref(event_ref):
    """(import id, line) of an ERP source state's event_ref "erp-import:<id>/<line>", else None."""
    if not event_ref or not event_ref.startswith(ERP_IMPORT_REF):
        return None
    batch, _, line = event_ref[len(ERP_IMPORT_REF):].partition("/")
    return (int(batch), int(line)) if batch.isdigit() and line.isdigit() else None


def _erp_import_url(pk):
    try:
        return reverse("admin:erp_erpimport_change", args=[pk])
    except NoReverseMatch:  # no ERP import admin yet: the file and line, unlinked
        return None


class ErpImportNames:
    """The file names of the ERP imports a page's cells name, looked up in the page's one name lookup
    (ActorWords' NameBook, a UNION it makes anyway when the page names a store, a team or an agent):
    no query of its own, at most one when nothing else on the page asks for names."""

    KIND = "erp_import"

    def __init__(self, book, ids):
        self.book, self.ids, self.names = book, ids, None
        if book.rows is None:
            book.before.append(self._add)

    def _add(self, book):
        book.add_query(ErpImport.objects.filter(pk__in=self.ids).annotate(kind=Value(self.KIND), blank=Value(""))
                       .values_list("kind", "pk", "filename", "blank", "blank"))

    def get(self, pk):
        if self.names is None:
            if self.book.rows is None or self._add in self.book.before:
                self.book.resolve()
                self.names = {pk: name for kind, pk, name, _, _ in self.book.rows if kind == self.KIND}
            else:  # the book was read before this page's cells asked
                self.names = dict(ErpImport.objects.filter(pk__in=self.ids).values_list("pk", "filename"))
        return self.names.get(pk)


@dataclass
class CarriedBy:
    """Which import carried an ERP cell's status: "file name, line N", linked to the import for users
    who may view imports (once the admin has one); worded when the template reads it."""

    names: ErpImportNames
    batch: int
    line: int
    linked: bool

    def __str__(self):
        name = self.names.get(self.batch)
        text = gettext("%(file)s, line %(line)d") % {
            "file": name or gettext("ERP import #%(id)d") % {"id": self.batch}, "line": self.line}
        url = _erp_import_url(self.batch) if self.linked and name else None
        return (format_html('<a href="{}" class="text-primary-600 dark:text-primary-500" data-erp-import-link>{}</a>',
                            url, text) if url else conditional_escape(text))

    def __html__(self):
        return str(self)


def erp_cells(rows, user, now, book):
    """Say in words what each ERP cell of the page says: its raw status readably ("To Deliver and Bill ·
    Not Delivered · Not Billed"), its meaning, the import (file, line) that carried it (CarriedBy: the
    file names come with the page's name lookup, `book`), and the tolerance rules broken."""
    cells = [cell for row in rows for cell in row.cells if cell is not None and cell.system == System.ERP]
    refs = {id(cell): _erp_import_ref(cell.event_ref) for cell in cells}
    ids = {ref[0] for ref in refs.values() if ref}
    names = ErpImportNames(book, ids) if ids else None
    linked = user.has_perm(VIEW_ERP_IMPORTS)
    for cell in cells:
        cell.raw_text = " · ".join(part.strip() for part in cell.raw_status.split("|") if part.strip())
        cell.meaning = (gettext("no mapping yet") if cell.mapped == screen.UNMAPPED
                        else OrderState(cell.mapped).label if cell.mapped in OrderState.values else "")
        ref = refs[id(cell)]
        cell.carried_by = CarriedBy(names, ref[0], ref[1], linked) if ref else None
        cell.tolerance_notes = [tolerance_note(note, now) for note in cell.tolerances]


def tolerance_note(note, now):
    """A broken rule in a sentence: which rule, and the time left in its window or since when it is out."""
    if note.left is not None:
        return format_html(gettext("{}: within tolerance for {} more."), note.sentence, countdown(note.left))
    if note.outside_since is None:
        return format_html(gettext("{}: outside tolerance."), note.sentence)
    now = max(now, note.outside_since)
    return format_html(gettext("{}: outside tolerance for {}, since {}."), note.sentence,
                       countdown(now - note.outside_since), when(note.outside_since, "absolute"))


def _page_links(request, page, prefix):
    """Newer/older/newest links that keep the rest of the query (the other list's page, the filter)."""
    reset = {f"{prefix}_after": None, f"{prefix}_before": None}
    page.newer_url = query_with(request, **{**reset, f"{prefix}_before": page.newer}) if page.newer else None
    page.older_url = query_with(request, **{**reset, f"{prefix}_after": page.older}) if page.older else None
    page.newest_url = query_with(request, **reset) if page.newer else None
    return page


# Whose status it is, in the waiting note's words.
STATUS_OWNERS = {System.WOOCOMMERCE: "the shop's", System.ERP: "the ERP's", System.CRM: "the CRM's"}
# A system as the subject of a sentence.
SYSTEM_NAMES = {System.WOOCOMMERCE: "The shop", System.ERP: "The ERP", System.CRM: "The CRM"}
MAP_STATUSES = "integrations.change_statusmapping"  # what status_mapping_set asks for


def _exception_name(item, visible):
    """The exception's kind, linked to it only for users who may open it."""
    name = item.get_kind_display()
    if not visible:
        return name
    return format_html('<a href="{}" class="font-medium text-primary-600 dark:text-primary-500" '
                       'data-exception-link>{}</a>', reverse("admin:lifecycle_exceptioncase_change", args=[item.pk]),
                       name)


def _queue_name(item):
    return item.queue.name if item.queue_id else gettext("Managers")


def _sla(item, now):
    """' (due in 3h 05m)' with the exact time on hover, red when overdue; '' without a due time."""
    if not item.due_at:
        return ""
    label, overdue = sla_label(item.due_at, now)
    return format_html(' (<span title="{}" class="{}">{}</span>)',
                       date_format(timezone.localtime(item.due_at), "DATETIME_FORMAT"),
                       "font-semibold text-red-600" if overdue else "", label)


def _assigned(item):
    """', assigned to Amira Khan,' when someone holds it, else ''."""
    return format_html(gettext(", assigned to {},"), item.assignee) if item.assignee_id else ""


def owner_note(item, now):
    """Who owns an order's open state mismatch, in a sentence: the exception (a link for users who may
    open it), its queue, its SLA and its assignee; users who may not open it still learn who owns it."""
    holder = (format_html(gettext("assigned to {}"), item.assignee) if item.assignee_id
              else gettext("nobody assigned yet"))
    return format_html(gettext("The exception “{}” owns it: {} queue{}, {}."),
                       _exception_name(item, item.visible), _queue_name(item), _sla(item, now), holder)


def closed_note(item):
    """What became of the last exception behind a disagreement nobody owns now: who closed it, when, why."""
    verb = gettext("dismissed") if item.status == ExceptionStatus.DISMISSED else gettext("resolved")
    by = format_html(gettext(" by {}"), item.closed_by) if getattr(item, "closed_by", "") else ""
    why = format_html(gettext(": “{}”"), item.resolution_reason) if item.resolution_reason else ""
    return format_html(gettext("The exception “{}” was {}{}{}{}."), _exception_name(item, item.visible), verb, by,
                       _closed_when(item.closed_at), why)


def _closed_when(moment):
    """' 3 hours ago' when recent, ' on 4 Dec 2026, 14:03' beyond a week, as the when filter writes a
    moment (the full date on hover); '' without one."""
    if moment is None:
        return ""
    if relative(moment, timezone.now()) is None:
        return format_html(gettext(" on {}"), when(moment, "absolute"))
    return format_html(" {}", when(moment))


def unowned_note(row):
    """A disagreement no open exception owns, in a sentence (and what became of the last one that did);
    users who may not read exceptions get nothing, since nothing of exceptions is theirs to read."""
    if not row.exceptions_read:
        return None
    note = [gettext("No exception is open for this disagreement.")]
    if row.closed is not None:
        note.append(closed_note(row.closed))
    return format_html_join(" ", "{}", ((part,) for part in note))


def waiting_note(waiting, order, user, now, closed=None):
    """Why the order waits, in a sentence for people: the status, who maps it and where, and the open
    exception that tracks it (its queue, its SLA, its assignee; a link only for users who may open it),
    or, when none is open, the last one that did (`closed`). Operations, who do not see exceptions, get
    the first two."""
    owner = STATUS_OWNERS.get(waiting.system, "its system's")
    note = [format_html(gettext("Waiting for a status mapping: {} status “{}” means nothing to the console yet."),
                        owner, waiting.raw_status)]
    where = gettext("Status mappings")
    if waiting.system == System.WOOCOMMERCE and user.has_perm(MAP_STATUSES):
        # The add form with this store and status filled in (console/admin/integrations.py).
        query = urlencode({"store_slug": order.namespace, "raw_status": status_key(waiting.raw_status, waiting.system)})
        where = format_html('<a href="{}?{}" class="font-medium text-primary-600 dark:text-primary-500" '
                            'data-map-status>{}</a>', reverse("admin:integrations_statusmapping_add"), query, where)
    item = waiting.exception
    if item is not None:
        note.append(format_html(gettext("A manager maps it in {}; the exception “{}” in the {} queue{}{} tracks it."),
                                where, _exception_name(item, waiting.exception_visible), _queue_name(item),
                                _sla(item, now), _assigned(item)))
    elif user.has_perm(SEE_EXCEPTIONS):
        note.append(format_html(gettext("A manager maps it in {}; no open exception tracks it."), where))
        if closed is not None:
            note.append(closed_note(closed))
    else:
        note.append(format_html(gettext("A manager maps it in {}."), where))
    return format_html_join(" ", "{}", ((part,) for part in note))


def _orders(request, customer):
    page = screen.customer_orders(customer, interpret=order_meanings, user=request.user,
                                  **_cursors(request, "orders"))
    # Per system: whether it reported on this customer, what an order it has no record of says, and
    # (spanning its column) what it says when it sent nothing about this customer at all.
    systems = [{"connected": on,
                "missing": gettext("No %(system)s record for this order.") % {"system": label},
                "silent": gettext("%(system)s has sent nothing about this customer yet.") % {
                    "system": SYSTEM_NAMES.get(value, label)}}
               for value, label, on in page.systems]
    now = timezone.now()
    for row in page.rows:
        row.label_classes = LABEL_CLASSES.get(ORDER_STATE_COLORS.get(row.order.state), LABEL_DEFAULT)
        row.admin_url = reverse("admin:lifecycle_order_change", args=[row.order.pk])
        row.columns = [{"cell": cell, **system} for cell, system in zip(row.cells, systems, strict=True)]
        row.waiting_note = (waiting_note(row.waiting, row.order, request.user, now, closed=row.closed)
                            if row.waiting else None)
        row.owner_note = owner_note(row.mismatch, now) if row.mismatch else None
        # a waiting row's note already says what tracks it, or that nothing does
        row.unowned_note = unowned_note(row) if row.unowned and not row.waiting else None
    erp_cells(page.rows, request.user, now, ActorWords.of(request).book)
    crm_cells(page.rows, now, tolerance_note)
    return _page_links(request, page, "orders")


def _exceptions(request, customer):
    section = screen.customer_exceptions(customer, request.user)
    options = {}  # (queue, assignee) -> its <option>s: the agents offered are the queue's
    for row in section.open:
        item = row.exception
        row.severity_variant = SEVERITY_COLORS.get(item.severity)
        row.sla = None if row.due_in is None else (
            f"overdue {countdown(row.due_in)}" if row.overdue else f"due in {countdown(row.due_in)}"
        )
        row.act_url = reverse("console:customer_exception", args=[customer.pk, item.pk])
        if row.agents:
            key = (item.queue_id, item.assignee_id)
            if key not in options:
                options[key] = format_html_join("", '<option value="{}"{}>{}</option>', (
                    (agent_id, mark_safe(" selected") if agent_id == item.assignee_id else "", label)
                    for agent_id, label in row.agents))
            row.agent_options = options[key]
    return section


class ActorWords:
    """Who did it, for every handoff and timeline row of one page (wording.actor_text): the rows'
    loaders add them, and the first row read in the template looks up the stores of all webhook
    actors and, for users who may open deliveries, those deliveries, in one query for the page."""

    def __init__(self, user):
        self.user = user
        self.rows = []
        self.stores = {}
        self.deliveries = {}
        self.done = False
        self.book = wording.NameBook()  # the owner section's names: one lookup for names and stores
        self.book.before.append(self._add_stores)

    @classmethod
    def of(cls, request):
        if not hasattr(request, "_actor_words"):
            request._actor_words = cls(request.user)
        return request._actor_words

    def add(self, row, when):
        self.rows.append(row)
        row.who = ActorLabel(self, row, when)

    def _add_stores(self, book):
        refs = {wording.webhook_ref(row.actor_ref) for row in self.rows if row.actor_kind == ActorKind.WEBHOOK}
        slugs = {slug for slug, _ in refs if slug}
        if not slugs:
            return
        stores = StoreConnection.objects.filter(slug__in=slugs).annotate(kind=Value("store"), blank=Value(""))
        if not self.user.has_perm(VIEW_DELIVERIES):
            book.add_query(stores.annotate(none=Value(None, output_field=IntegerField()))
                           .values_list("kind", "none", "name", "slug", "blank"))
            return
        # and the deliveries the refs name (a store without one still answers, with no pk)
        ids = {ref_id for _, ref_id in refs if ref_id}
        pks = {int(ref_id) for ref_id in ids if ref_id.isdigit()}
        named = Q(inbound_events__delivery_id__in=ids) | Q(inbound_events__pk__in=pks)
        book.add_query(stores.annotate(hit=FilteredRelation("inbound_events", condition=named))
                       .values_list("kind", "hit__pk", "name", "slug", "hit__delivery_id"))

    def resolve(self):
        if self.done:
            return
        self.done = True
        self.book.resolve()
        for kind, pk, name, slug, delivery_id in self.book.rows:
            if kind != "store":
                continue
            self.stores[slug] = name
            if pk is not None:  # the ref names the delivery id when the shop sent one, else the event's pk
                self.deliveries[(slug, delivery_id or str(pk))] = pk

    def text(self, label):
        self.resolve()
        row = label.row
        return wording.actor_text(row.actor_kind, row.actor_ref, user=row.actor_user, when=label.when,
                                  store_names=self.stores)

    def url(self, label):
        self.resolve()
        if label.row.actor_kind != ActorKind.WEBHOOK:
            return ""
        pk = self.deliveries.get(wording.webhook_ref(label.row.actor_ref))
        return reverse("admin:integrations_inboundevent_change", args=[pk]) if pk else ""


@dataclass
class ActorLabel:
    words: ActorWords
    row: Any
    when: Any

    @property
    def text(self):
        return self.words.text(self)

    @property
    def url(self):
        return self.words.url(self)

    @property
    def raw(self):
        return self.row.actor_label


def _owner(request, customer):
    words = ActorWords.of(request)
    section = screen.customer_owner(customer, book=words.book)
    rows = list(section.handoffs)
    last = section.ownership.last_handoff if section.ownership is not None else None
    if last is not None and last not in rows:
        rows.append(last)
    for handoff in rows:
        words.add(handoff, handoff.created_at)
    section.crm = crm_block(request.user, customer)
    return section


def _timeline(request, customer):
    source = request.GET.get("source") or None
    page = screen.customer_timeline(customer, source=source, **_cursors(request, "events"))
    words = ActorWords.of(request)
    for event in page.rows:
        words.add(event, event.occurred_at)
    page.source = source if source in dict(screen.TIMELINE_SOURCES) else None
    reset = {"events_after": None, "events_before": None}
    page.filters = [(None, "All", query_with(request, **reset, source=None))] + [
        (value, label, query_with(request, **reset, source=value)) for value, label in screen.TIMELINE_SOURCES
    ]
    return _page_links(request, page, "events")


SECTIONS = [
    Section("owner", "Owner", "person_pin", _owner, permission="lifecycle.view_ownership"),
    # For who may read the CRM's outbox but not owners (operations): the sync without the owners.
    Section("crm", "CRM", "hub", lambda request, c: crm_block(request.user, c, show_owner=False),
            permission=VIEW_OUTBOX, unless="lifecycle.view_ownership", optional=True),
    Section("stage", "Stage", "flag", lambda request, c: screen.customer_stage(c, request.user)),
    Section("health", "Health", "monitor_heart", lambda request, c: screen.customer_health(c)),
    Section("orders", "Orders", "receipt_long", _orders, permission="lifecycle.view_order", wide=True),
    Section("exceptions", "Exceptions", "report", _exceptions, permission="lifecycle.view_exceptioncase",
            wide=True),
    Section("journey", "30-day journey", "route", lambda request, c: screen.customer_journey(c, request.user),
            wide=True),
    Section("timeline", "Timeline", "timeline", _timeline, permission="lifecycle.view_timelineevent", wide=True),
]


# --- the page ---------------------------------------------------------------------------------
def _customer_or_404(request, customer_id):
    customer = screen.customer_for_screen(request.user, customer_id)
    if customer is None:
        raise Http404("No such customer.")
    return customer


def screen_url(customer_id, anchor=""):
    return reverse("console:customer", args=[customer_id]) + (f"#{anchor}" if anchor else "")


def query_with(request, **changes):
    """The current query string with `changes` applied (None removes a key), for page links."""
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value is not None:
            params[key] = value
    return f"?{params.urlencode()}" if params else "?"


def customer_screen(request, customer_id):
    """The screen (or the refusal), rendered inside prepared_reads: its statements are the same for every
    customer, so a connection plans each once; the template reads too, hence rendered here."""
    with prepared_reads():
        return _customer_screen(request, customer_id).render()


def _customer_screen(request, customer_id):
    customer = screen.customer_for_screen(request.user, customer_id, extend=crm_columns(request.user))
    if customer is None:  # another team's (403: who owns it, whom to ask) or none (404), in the layout
        return refusals.customer_refused(request, customer_id)
    user = request.user
    sections = []
    for section in SECTIONS:
        if section.permission and not user.has_perm(section.permission):
            continue
        if section.unless and user.has_perm(section.unless):
            continue
        data = section.load(request, customer)
        if section.optional and data is None:
            continue
        sections.append({"key": section.key, "title": section.title, "icon": section.icon,
                         "template": section.template, "width": WIDE if section.wide else "", "data": data})
    context = {
        **admin.site.each_context(request),
        "title": str(customer),
        "opts": Customer._meta,
        "original": customer,
        "customer": customer,
        "sections": sections,
        "is_fullwidth": "1",
        "admin_url": reverse("admin:lifecycle_customer_change", args=[customer.pk]),
        "can_reassign": user.has_perm("lifecycle.reassign_owner"),
        # A customer waiting for an agent: an agent may claim it (the service checks the team). A
        # callable: the template asks (one query) only when the customer waits.
        "claim_url": lambda: reverse("console:home_claim_customer", args=[customer.pk]) if agent_of(user) else None,
        "reassign_url": reverse("admin:lifecycle_customer_reassign_owner_detail", args=[customer.pk])
        + "?" + urlencode({"next": screen_url(customer.pk)}),
        "handoffs_url": reverse("admin:lifecycle_handoff_changelist") + f"?customer__id__exact={customer.pk}",
        "exceptions_url": reverse("admin:lifecycle_exceptioncase_changelist")
        + f"?view=closed&customer__id__exact={customer.pk}",
        "exception_headers": EXCEPTION_HEADERS,
        "label_base": LABEL_BASE,
        "stage_variant": STAGE_COLORS.get(customer.stage),
    }
    return TemplateResponse(request, TEMPLATE, context)


# --- writes -----------------------------------------------------------------------------------
@require_POST
def move_customer_stage(request, customer_id):
    customer = _customer_or_404(request, customer_id)
    transition = request.POST.get("transition", "")
    try:
        customer_move_stage(customer=customer, transition=transition, actor=Actor.for_user(request.user),
                            reason=request.POST.get("reason", ""))
    except REFUSED as error:
        messages.error(request, str(error) or "You may not make this stage move.")
    else:
        label = STAGE_TRANSITIONS[transition].custom["label"]
        messages.success(request, f"{label}: {customer} is now {customer.get_stage_display()}.")
    return redirect(screen_url(customer.pk, "stage"))


EXCEPTION_ACTIONS = {"claim", "release", "resolve", "dismiss", "assign"}


@require_POST
def customer_exception(request, customer_id, exception_id):
    customer = _customer_or_404(request, customer_id)
    queryset = ExceptionCase.objects.filter(pk=exception_id, customer=customer)
    exception = exceptions_visible_to(request.user, queryset).first()
    action = request.POST.get("action", "")
    if exception is None or action not in EXCEPTION_ACTIONS:
        raise Http404("No such exception.")
    actor = Actor.for_user(request.user)
    reason = request.POST.get("reason", "")
    try:
        if action == "claim":
            exception_claim(exception=exception, actor=actor)
            done = "Claimed"
        elif action == "release":
            exception_release(exception=exception, actor=actor)
            done = "Released back to the queue"
        elif action in ("resolve", "dismiss"):
            exception_close(exception=exception, actor=actor, reason=reason, dismiss=action == "dismiss")
            done = "Dismissed" if action == "dismiss" else "Resolved"
        else:
            agent_id = request.POST.get("agent", "")
            agent = Agent.objects.select_related("user").filter(pk=agent_id).first() if agent_id.isdigit() else None
            if agent is None:
                raise ServiceError("Pick the agent to assign it to.")
            exception_assign(exception=exception, agent=agent, actor=actor)
            done = f"Assigned to {agent}"
    except REFUSED as error:
        messages.error(request, f"{exception.get_kind_display()}: {error or 'you may not do this.'}")
    else:
        messages.success(request, f"{done}: {exception}")
    return redirect(screen_url(customer.pk, "exceptions"))


screen_view = admin.site.admin_view(customer_screen)
move_stage_view = admin.site.admin_view(move_customer_stage)
exception_view = admin.site.admin_view(customer_exception)
