"""What each group may do with the integrations: operations connect stores and the CRM and import
ERP exports, managers map statuses."""

from lifecycle.defaults import grant

_VIEW = ["integrations.view_storeconnection", "integrations.view_statusmapping", "integrations.view_inboundevent"]

# The ERP import (integrations/erp): operations import and set the profiles' columns, managers map statuses.
_ERP_VIEW = [f"erp.view_{model}" for model in ("erpsettings", "erpstatusmapping", "erpimport", "erprecord")]

# The CRM (integrations/crm): operations connect, check and replay its outbox; stage mappings are
# for operations and managers alike (a manager decides what a stage means, as with statuses).
_CRM_VIEW = [f"crm.view_{model}" for model in ("crmconnection", "crmstagemapping", "crmownerlink",
                                               "outboundmessage")]

# The CRM's inbound side (pulls, webhooks): deal stages mean order states (a manager's call, as with
# statuses); operations set the webhook secret and watch the cursors.
_CRM_INBOUND_VIEW = [f"crm.view_{model}" for model in ("crmdealstagemapping", "crmcontactstate", "crmdeal",
                                                       "crmcursor", "crmactivity")]
_CRM_DEAL_STAGES = ["crm.add_crmdealstagemapping", "crm.change_crmdealstagemapping"]

GROUPS = {
    "Operations": _VIEW + ["integrations.add_storeconnection", "integrations.change_storeconnection"]
    + _ERP_VIEW + ["erp.add_erpimport", "erp.add_erpsettings", "erp.change_erpsettings"]
    + _CRM_VIEW + ["crm.add_crmconnection", "crm.change_crmconnection", "crm.change_crmstagemapping"]
    + _CRM_INBOUND_VIEW + _CRM_DEAL_STAGES + ["crm.add_crmwebhooksecret", "crm.change_crmwebhooksecret"],
    "Manager": _VIEW + ["integrations.add_statusmapping", "integrations.change_statusmapping"]
    + _ERP_VIEW + ["erp.add_erpstatusmapping", "erp.change_erpstatusmapping"]
    + _CRM_VIEW + ["crm.change_crmstagemapping"] + _CRM_INBOUND_VIEW + _CRM_DEAL_STAGES,
    "Support agent": ["integrations.view_statusmapping", "erp.view_erpstatusmapping"],
}


def install_defaults(apps):
    grant(apps, GROUPS)
