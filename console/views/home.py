"""The agent home: my queue, oldest first, with SLA countdowns and "claim next".

The queue block refreshes itself: htmx (loaded by unfold's layout) polls `home_queue` every
POLL_SECONDS and swaps the block in place. That partial answers 401/403 rather than a login page,
so an expired session never pastes a login form into the page.
"""

from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from console.admin.exceptions import countdown
from console.claiming import claim_customer_response, claim_next_response
from console.templatetags.when import JUST_NOW
from lifecycle.selectors.journeys import OVERDUE_SHOWN, overdue_steps
from lifecycle.selectors.queues import agent_queue

POLL_SECONDS = 30  # fresh enough for a queue whose SLAs run in hours, light on the server
EXCEPTION_HEADERS = [_("Open for"), _("SLA"), _("Exception"), _("Customer"), _("Queue"), _("Severity")]
CUSTOMER_HEADERS = [_("Waiting for"), _("Customer"), _("Stage"), _("Why")]
WAITING_HEADERS = [_("Waiting for"), _("SLA"), _("Customer"), _("Team"), _("Stage"), ""]
STEP_HEADERS = [_("Overdue by"), _("Step"), _("Customer"), _("Team"), _("State")]


def sla_label(due_at, now):
    """("due in 3h 05m" | "overdue 2h 10m" | "—", overdue?) with the admin queue's countdown format."""
    if due_at is None:
        return "—", False
    delta = due_at - now
    if delta.total_seconds() < 0:
        return f"overdue {countdown(delta)}", True
    return f"due in {countdown(delta)}", False


def age_label(since, now):
    """How long something has waited: "just now" under a minute (never "0h 00m"), else the queue's
    countdown ("2h 05m", "3d 4h"); "—" without a moment."""
    if since is None:
        return "—"
    if now - since < JUST_NOW:
        return gettext("just now")
    return countdown(now - since)


def customer_url(customer_id):
    """The customer screen when it is installed, else the admin's customer page."""
    try:
        return reverse("console:customer", args=[customer_id])
    except NoReverseMatch:
        return reverse("admin:lifecycle_customer_change", args=[customer_id])


def _rows(queue, now):
    exceptions = []
    for item in queue.exceptions:
        label, overdue = sla_label(item.due_at, now)
        exceptions.append({
            "item": item, "sla": label, "overdue": overdue, "age": age_label(item.opened_at, now),
            "url": reverse("admin:lifecycle_exceptioncase_change", args=[item.pk]),
            "customer_url": customer_url(item.customer_id) if item.customer_id else None,
        })
    customers = []
    for customer in queue.customers:
        since = customer.oldest_unclaimed or customer.stage_changed_at
        customers.append({
            "customer": customer, "url": customer_url(customer.pk),
            "waiting": age_label(since, now),
            "reason": _("Unclaimed exception") if customer.oldest_unclaimed else _("At risk"),
        })
    return exceptions, customers


def _step_rows(user, now):
    """My overdue journey steps (lifecycle.selectors.journeys.overdue_steps), each linking to its step on
    the customer's journey strip."""
    return [{"step": step, "late": countdown(now - step.due_at),
             "state": _("Missed: in the queue") if step.state == "missed" else _("Overdue"),
             "url": customer_url(step.journey.customer_id) + f"#step-{step.pk}"}
            for step in overdue_steps(user, now)]


def _waiting_rows(queue, now):
    rows = []
    for customer in queue.waiting:
        label, overdue = sla_label(customer.due_at, now)
        rows.append({
            "customer": customer, "url": customer_url(customer.pk), "team": customer.ownership.team,
            "waiting": age_label(customer.waiting_since, now),
            "sla": label if customer.due_at else _("no clock (dismissed)"), "overdue": overdue,
            "claim_url": reverse("console:home_claim_customer", args=[customer.pk]),
        })
    return rows


MANAGER_PERMS = ("lifecycle.view_all_customers", "lifecycle.assign_exceptioncase")  # as the dashboard asks
# Where a user with no queue of their own works instead, by role: (label, icon, URL name, query, permission).
MANAGER_LINKS = [
    (_("Dashboard"), "monitoring", "console:dashboard", "", "lifecycle.assign_exceptioncase"),
    (_("Managers' queue"), "supervisor_account", "admin:lifecycle_exceptioncase_changelist", "?view=managers",
     "lifecycle.view_exceptioncase"),
    (_("Breached"), "alarm", "admin:lifecycle_exceptioncase_changelist", "?view=breached",
     "lifecycle.view_exceptioncase"),
]
OPERATIONS_LINKS = [
    (_("Stores"), "storefront", "admin:integrations_storeconnection_changelist", "", "integrations.view_storeconnection"),
    (_("Failed deliveries"), "report", "admin:integrations_inboundevent_changelist", "?attention=problems",
     "integrations.view_inboundevent"),
    (_("Status mappings"), "rule", "admin:integrations_statusmapping_changelist", "", "integrations.view_statusmapping"),
    (_("Customers"), "person", "admin:lifecycle_customer_changelist", "", "lifecycle.view_customer"),
]


def no_queue(user):
    """What the home says to a user without an agent profile: a manager oversees the teams' queues, operations
    looks after the stores, anyone else is told to ask for a profile. (role, links they may open)."""
    if user.has_perms(MANAGER_PERMS):
        role, links = "manager", MANAGER_LINKS
    elif not user.has_perm("lifecycle.view_exceptioncase"):
        role, links = "operations", OPERATIONS_LINKS
    else:
        role, links = "agent", []
    return {"role": role, "links": [{"label": label, "icon": icon, "url": reverse(name) + query}
                                    for label, icon, name, query, perm in links if user.has_perm(perm)]}


def _queue_context(request):
    now = timezone.now()
    queue = agent_queue(request.user, now)
    exceptions, customers = _rows(queue, now)
    return {"queue": queue, "exception_rows": exceptions, "customer_rows": customers, "now": now,
            "no_queue": no_queue(request.user) if queue.agent is None else None,
            "waiting_rows": _waiting_rows(queue, now), "waiting_headers": WAITING_HEADERS,
            "step_rows": _step_rows(request.user, now) if queue.agent else [], "step_headers": STEP_HEADERS,
            "step_limit": OVERDUE_SHOWN,
            "poll_seconds": POLL_SECONDS, "exception_headers": EXCEPTION_HEADERS, "customer_headers": CUSTOMER_HEADERS}


def home(request):
    queue = _queue_context(request)
    context = {
        **admin.site.each_context(request),
        "title": _("My queue") if queue["queue"].agent else _("Home"),
        "dashboard_url": reverse("console:dashboard"),
        **queue,
    }
    return TemplateResponse(request, "console/home.html", context)


@never_cache
def home_queue(request):
    """The refreshing block alone (polled by htmx); checked like the page it belongs to."""
    if not request.user.is_authenticated:
        return HttpResponse(status=401)
    if not (request.user.is_active and request.user.is_staff):
        return HttpResponse(status=403)
    return TemplateResponse(request, "console/home_queue.html", _queue_context(request))


@require_POST
def claim_next(request):
    return claim_next_response(request, otherwise=reverse("console:home"))


@require_POST
def claim_customer(request, customer_id):
    # From the customer's screen a refusal goes back there; from the home, home.
    on_screen = request.POST.get("from") == "screen"
    return claim_customer_response(request, customer_id, otherwise=reverse(
        "console:customer", args=[customer_id]) if on_screen else reverse("console:home"))


home_view = admin.site.admin_view(home)
claim_next_view = admin.site.admin_view(claim_next)
claim_customer_view = admin.site.admin_view(claim_customer)
