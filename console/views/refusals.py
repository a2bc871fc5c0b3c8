"""Refusals in the console's layout: another team's customer (403, who owns it and whom to ask), a
customer that does not exist (404), and a page not for the user's role (Django's handler403, see
console/urls.py: what the page is for, who uses it, and links to what the user can use).

The read API under /api/ answers its own JSON errors (rest_framework); a 403 that reaches the
handler from under /api/ still gets JSON.
"""

from django.contrib import admin
from django.contrib.auth.models import Group
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults

from lifecycle.selectors.customers import customer_owned_elsewhere
from lifecycle.selectors.visibility import SEE_ALL

TEMPLATE = "console/refusal.html"
MANAGER_PERMS = (SEE_ALL, "lifecycle.assign_exceptioncase")  # as the dashboard asks (console/views/dashboard.py)
# The roles (groups, lifecycle/defaults.py) in the refusal's words.
ROLE_NAMES = {"Manager": gettext_lazy("managers"), "Support agent": gettext_lazy("support agents"), "Operations": gettext_lazy("operations")}
# What a page is for, by URL name (console pages) or model label (its admin pages).
PURPOSES = {
    "console:dashboard": gettext_lazy("The dashboard shows managers the ownership gaps, open exceptions by kind, team and age, "
                           "the SLA breach rate and repeat purchases, and lets them rebalance a team's queue."),
    "lifecycle.exceptioncase": gettext_lazy("Exceptions are the problems support works through from the teams' queues: "
                                 "claimed, resolved or dismissed against an SLA."),
    "lifecycle.ownership": gettext_lazy("Owners: which team and agent own each customer."),
    "lifecycle.handoff": gettext_lazy("Handoffs: every change of a customer's owner, who made it and why."),
    "lifecycle.team": gettext_lazy("Teams: who works which stage, their hours and their manager."),
    "lifecycle.agent": gettext_lazy("Agents: the support agents, their teams and capacity."),
    "lifecycle.stagepolicy": gettext_lazy("Stage owners: which team owns customers at each stage."),
    "lifecycle.exceptionpolicy": gettext_lazy("Exception policies: which queue gets each kind of exception, and its SLA."),
    "lifecycle.routingrule": gettext_lazy("Routing rules: which team or agent a new customer goes to."),
    "lifecycle.holiday": gettext_lazy("Holidays: days without business hours, for the SLA clocks."),
}
DEFAULT_PURPOSE = gettext_lazy("This page is part of another role's work in the console.")
# What the refusal offers instead: (label, icon, URL name and query, permission), shown to who holds the permission.
ELSEWHERE = [
    (gettext_lazy("Customers"), "person", "admin:lifecycle_customer_changelist", "lifecycle.view_customer"),
    (gettext_lazy("Orders"), "receipt_long", "admin:lifecycle_order_changelist", "lifecycle.view_order"),
    (gettext_lazy("My queue"), "inbox", "admin:lifecycle_exceptioncase_changelist?view=mine", "lifecycle.view_exceptioncase"),
    (gettext_lazy("Stores"), "storefront", "admin:integrations_storeconnection_changelist", "integrations.view_storeconnection"),
    (gettext_lazy("Deliveries"), "webhook", "admin:integrations_inboundevent_changelist", "integrations.view_inboundevent"),
    (gettext_lazy("Status mappings"), "rule", "admin:integrations_statusmapping_changelist", "integrations.view_statusmapping"),
]


def render(request, *, status, icon, heading, sentences, title=None, links=(), contacts=()):
    context = {
        **admin.site.each_context(request),
        "title": title or heading,
        "refusal": {"icon": icon, "heading": heading, "sentences": sentences, "links": links,
                    "contacts": contacts, "status": status},
    }
    return TemplateResponse(request, TEMPLATE, context, status=status)


def links_for(user, here=""):
    links = []
    for label, icon, target, perm in ELSEWHERE:
        name, _sep, query = target.partition("?")
        if user.has_perm(perm) and reverse(name) != here:
            links.append({"label": label, "icon": icon, "url": reverse(name) + (f"?{query}" if query else "")})
    return links


# --- the customer screen ----------------------------------------------------------------------------
def customer_refused(request, customer_id):
    """The answer for a customer the user may not open: 403 with its owner team, stage and whom to
    ask when the user may be told (a support agent), else 404 as if missing."""
    elsewhere = customer_owned_elsewhere(request.user, customer_id)
    if elsewhere is None:
        return render(request, status=404, icon="person_off", heading=_("No customer #%s") % customer_id,
                      sentences=[_("There is no customer with this number. Search by email, name, phone or "
                                   "order number in the header's search box.")],
                      links=links_for(request.user))
    if elsewhere.team is None:
        sentences = [format_html(_("This customer is at the {} stage and no team owns it yet."),
                                 elsewhere.stage_label),
                     _("Only managers can open it: ask a manager.")]
        contacts = []
    else:
        sentences = [format_html(_("This customer belongs to {} ({} stage)."), elsewhere.team.name,
                                 elsewhere.stage_label),
                     format_html(_("Only {} and managers can open it."), elsewhere.team.name)]
        if elsewhere.manager:
            sentences.append(format_html(_("To reach {}, ask its manager, {}, or any manager."), elsewhere.team.name,
                                         elsewhere.manager))
            contacts = []
        elif elsewhere.agents:
            sentences.append(format_html(_("To reach {}, ask one of its agents, or any manager:"),
                                         elsewhere.team.name))
            contacts = elsewhere.agents + ([_("and others")] if elsewhere.more_agents else [])
        else:
            sentences.append(format_html(_("{} has no manager or agent named yet: ask any manager."),
                                         elsewhere.team.name))
            contacts = []
    return render(request, status=403, icon="lock_person", heading=_("Another team's customer"),
                  title=_("Customer #%s") % customer_id, sentences=sentences, contacts=contacts,
                  links=links_for(request.user))


# --- handler403 ---------------------------------------------------------------------------------------
def _page(request):
    """(purpose, permission needed to use the page) of the refused page, as far as the URL tells."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return DEFAULT_PURPOSE, None
    model_admin = getattr(match.func, "model_admin", None)
    if match.view_name == "console:dashboard" or match.view_name.startswith("console:dashboard_"):
        return PURPOSES["console:dashboard"], MANAGER_PERMS
    if model_admin is not None:
        opts = model_admin.model._meta
        purpose = PURPOSES.get(opts.label_lower) or _("This page manages %s.") % opts.verbose_name_plural
        return purpose, (f"{opts.app_label}.view_{opts.model_name}",)
    return DEFAULT_PURPOSE, None


def _roles_with(perms):
    """The roles (groups) holding every one of `perms`, in the refusal's words."""
    if not perms:
        return []
    groups = Group.objects.filter(name__in=ROLE_NAMES)
    for perm in perms:
        app_label, codename = perm.split(".")
        groups = groups.filter(permissions__content_type__app_label=app_label, permissions__codename=codename)
    names = set(groups.values_list("name", flat=True))
    return [str(label) for name, label in ROLE_NAMES.items() if name in names]


def permission_denied(request, exception=None):
    """handler403: a page in the console's layout for a logged-in staff user; JSON under /api/;
    Django's plain page for anyone else."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": str(exception or "") or "You do not have permission to perform this action."},
                            status=403)
    user = getattr(request, "user", None)
    if user is None or not (user.is_active and user.is_staff):
        return defaults.permission_denied(request, exception)
    purpose, perms = _page(request)
    roles = _roles_with(perms)
    sentences = [purpose]
    if roles:
        who = roles[0] if len(roles) == 1 else _("%(some)s and %(last)s") % {"some": ", ".join(roles[:-1]),
                                                                              "last": roles[-1]}
        sentences.append(_("%s use it; your role does not.") % capfirst(who))
    else:
        sentences.append(_("Your role does not use it."))
    links = links_for(user, here=request.path)
    if links:
        sentences.append(_("What your role uses:"))
    return render(request, status=403, icon="block", heading=_("Not for your role"), sentences=sentences,
                  links=links)
