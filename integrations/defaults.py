"""What each group may do with the integrations: operations connect stores, managers map statuses."""

from lifecycle.defaults import grant

_VIEW = ["integrations.view_storeconnection", "integrations.view_statusmapping", "integrations.view_inboundevent"]

GROUPS = {
    "Operations": _VIEW + ["integrations.add_storeconnection", "integrations.change_storeconnection"],
    "Manager": _VIEW + ["integrations.add_statusmapping", "integrations.change_statusmapping"],
    "Support agent": ["integrations.view_statusmapping"],
}


def install_defaults(apps):
    grant(apps, GROUPS)
