"""Unfold's admin configuration: site identity and the sidebar support agents navigate by."""

from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _link(title, icon, model):
    app, name = model.split(".")
    return {
        "title": _(title),
        "icon": icon,
        "link": reverse_lazy(f"admin:{app}_{name}_changelist"),
        "permission": lambda request, perm=f"{app}.view_{name}": request.user.has_perm(perm),
    }


UNFOLD = {
    "SITE_TITLE": "Aftercare",
    "SITE_HEADER": "Aftercare",
    "SITE_SUBHEADER": "Post-purchase ownership console",
    "SITE_SYMBOL": "support_agent",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": _("Customers"),
                "items": [
                    _link("Customers", "person", "lifecycle.customer"),
                    _link("Orders", "receipt_long", "lifecycle.order"),
                    _link("Handoffs", "swap_horiz", "lifecycle.handoff"),
                    _link("Timeline", "timeline", "lifecycle.timelineevent"),
                ],
            },
            {
                "title": _("Teams"),
                "items": [
                    _link("Teams", "groups", "lifecycle.team"),
                    _link("Agents", "badge", "lifecycle.agent"),
                    _link("Stage owners", "flag", "lifecycle.stagepolicy"),
                ],
            },
        ],
    },
}
