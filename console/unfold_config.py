"""Unfold's admin configuration: site identity and the sidebar support agents navigate by."""

from urllib.parse import parse_qsl

from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _


# Query parameters that make one changelist several sidebar pages (the queues' views, the failed deliveries).
SIDEBAR_VIEWS = ("view", "attention")


def _link(title, icon, model, query="", perms=None):
    """A changelist link, shown to who holds any of `perms` (default: the model's view permission), and
    highlighted only on its own page: unfold would light every link to the same changelist at once."""
    app, name = model.split(".")
    changelist = reverse_lazy(f"admin:{app}_{name}_changelist")
    wanted = dict(parse_qsl(query.lstrip("?")))

    def active(request):
        if not request.path.startswith(str(changelist)):
            return False
        if wanted:
            return all(request.GET.get(key) == value for key, value in wanted.items())
        return not any(key in request.GET for key in SIDEBAR_VIEWS)

    return {
        "title": _(title),
        "icon": icon,
        "link": format_lazy("{}{}", changelist, query),
        "active": active,
        "permission": lambda request, perms=perms or [f"{app}.view_{name}"]: any(
            request.user.has_perm(perm) for perm in perms),
    }


UNFOLD = {
    "SITE_TITLE": "Aftercare",
    "SITE_HEADER": "Aftercare",
    "SITE_SUBHEADER": "Post-purchase ownership console",
    "SITE_SYMBOL": "support_agent",
    "SITE_FAVICONS": [
        {"rel": "icon", "sizes": "any", "type": "image/svg+xml",
         "href": lambda request: static("console/favicon.svg")},
    ],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": _("Console"),
                "items": [
                    {
                        "title": _("Home"),
                        "icon": "home",
                        "link": reverse_lazy("console:home"),
                        # Every console page starts with the home's path: only the home itself is "here".
                        "active": lambda request: request.path == str(reverse_lazy("console:home")),
                    },
                    {
                        "title": _("Dashboard"),
                        "icon": "monitoring",
                        "link": reverse_lazy("console:dashboard"),
                        "permission": lambda request: request.user.has_perms(
                            ["lifecycle.view_all_customers", "lifecycle.assign_exceptioncase"]
                        ),
                    },
                    {
                        "title": _("Journey map"),
                        "icon": "route",
                        "link": reverse_lazy("console:journey_map"),
                        "permission": lambda request: request.user.has_perms(
                            ["lifecycle.view_all_customers", "lifecycle.assign_exceptioncase"]
                        ),
                    },
                ],
            },
            {
                "title": _("Queues"),
                "items": [
                    _link("My queue", "inbox", "lifecycle.exceptioncase", "?view=mine"),
                    _link("Team queue", "group_work", "lifecycle.exceptioncase", "?view=team"),
                    _link("Unassigned", "assignment_late", "lifecycle.exceptioncase", "?view=unassigned"),
                    _link("Breached", "alarm", "lifecycle.exceptioncase", "?view=breached"),
                    _link("Managers' queue", "supervisor_account", "lifecycle.exceptioncase", "?view=managers"),
                ],
            },
            {
                "title": _("Customers"),
                "items": [
                    _link("Customers", "person", "lifecycle.customer"),
                    _link("Orders", "receipt_long", "lifecycle.order"),
                    _link("Handoffs", "swap_horiz", "lifecycle.handoff"),
                    _link("Timeline", "timeline", "lifecycle.timelineevent"),
                    _link("Health scores", "monitor_heart", "lifecycle.healthscore"),
                ],
            },
            {
                "title": _("Teams"),
                "items": [
                    _link("Teams", "groups", "lifecycle.team"),
                    _link("Agents", "badge", "lifecycle.agent"),
                    _link("Stage owners", "flag", "lifecycle.stagepolicy"),
                    _link("Routing rules", "alt_route", "lifecycle.routingrule"),
                    _link("Exception policies", "policy", "lifecycle.exceptionpolicy"),
                    _link("Holidays", "event_busy", "lifecycle.holiday"),
                    _link("Reconciliation tolerances", "compare_arrows", "lifecycle.tolerancerule"),
                    _link("Playbooks", "checklist", "lifecycle.playbook"),
                    _link("Health policy", "tune", "lifecycle.healthpolicy"),
                    _link("Login lockouts", "lock_person", "console.loginlockout"),
                ],
            },
            {
                "title": _("Integrations"),
                "items": [
                    _link("Stores", "storefront", "integrations.storeconnection"),
                    _link("Deliveries", "webhook", "integrations.inboundevent"),
                    _link("Failed deliveries", "report", "integrations.inboundevent", "?attention=problems"),
                    _link("Status mappings", "rule", "integrations.statusmapping"),
                    # Sync runs have no permission of their own: who sees the stores sees them (console/admin).
                    _link("Sync runs", "sync", "integrations.syncrun",
                          perms=["integrations.view_syncrun", "integrations.view_storeconnection"]),
                    _link("ERP imports", "upload_file", "erp.erpimport"),
                    _link("ERP records", "inventory_2", "erp.erprecord"),
                    _link("ERP status mappings", "rule_settings", "erp.erpstatusmapping"),
                    _link("ERP settings", "tune", "erp.erpsettings"),
                    _link("CRM connections", "hub", "crm.crmconnection"),
                    _link("CRM outbox", "outbox", "crm.outboundmessage"),
                    _link("CRM stage mappings", "linear_scale", "crm.crmstagemapping"),
                    _link("CRM owners", "badge", "crm.crmownerlink"),
                    _link("CRM deal stages", "view_kanban", "crm.crmdealstagemapping"),
                    # Operations set the secret (change permission) without a view permission of its own.
                    _link("CRM webhook secret", "key", "crm.crmwebhooksecret",
                          perms=["crm.view_crmwebhooksecret", "crm.change_crmwebhooksecret"]),
                    _link("CRM pull cursors", "cloud_download", "crm.crmcursor"),
                ],
            },
        ],
    },
}
