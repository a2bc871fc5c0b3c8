"""What each group may do with the integrations: operations connect stores and import ERP exports,
managers map statuses."""

from lifecycle.defaults import grant

_VIEW = ["integrations.view_storeconnection", "integrations.view_statusmapping", "integrations.view_inboundevent"]

# The ERP import (integrations/erp): operations import and set the profiles' columns, managers map statuses.
_ERP_VIEW = [f"erp.view_{model}" for model in ("erpsettings", "erpstatusmapping", "erpimport", "erprecord")]

GROUPS = {
    "Operations": _VIEW + ["integrations.add_storeconnection", "integrations.change_storeconnection"]
    + _ERP_VIEW + ["erp.add_erpimport", "erp.add_erpsettings", "erp.change_erpsettings"],
    "Manager": _VIEW + ["integrations.add_statusmapping", "integrations.change_statusmapping"]
    + _ERP_VIEW + ["erp.add_erpstatusmapping", "erp.change_erpstatusmapping"],
    "Support agent": ["integrations.view_statusmapping", "erp.view_erpstatusmapping"],
}


def install_defaults(apps):
    grant(apps, GROUPS)
