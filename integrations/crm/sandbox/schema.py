"""The account's definitions: object types, their properties, lifecycle stages, the deal pipeline,
the association types and the scope each endpoint needs.

Values follow HubSpot's defaults: the eight lifecycle stages with their internal values, the
"Sales Pipeline" with its seven stages, and the HUBSPOT_DEFINED association type ids.
"""

# The eight default lifecycle stages (internal value, label), in displayOrder.
LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"), ("customer", "Customer"),
    ("evangelist", "Evangelist"), ("other", "Other"),
]

# HubSpot's default deal pipeline (its id "default"): (stage id, label, probability, closed).
PIPELINE = "default"
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
]

ACTIVITY_TYPES = ("notes", "calls", "emails", "meetings", "tasks")
OBJECT_TYPES = ("contacts", "deals") + ACTIVITY_TYPES
# v4 paths and the webhooks use singular names; HubSpot also takes the numeric object type ids.
ALIASES = {"contact": "contacts", "0-1": "contacts", "deal": "deals", "0-3": "deals", "note": "notes",
           "0-46": "notes", "call": "calls", "0-48": "calls", "email": "emails", "0-49": "emails",
           "meeting": "meetings", "0-47": "meetings", "task": "tasks", "0-27": "tasks"}
# The property a type stamps its modification time in (contacts kept their pre-"hs_" name).
MODIFIED = {t: "hs_lastmodifieddate" for t in OBJECT_TYPES} | {"contacts": "lastmodifieddate"}
CREATED = {t: "hs_createdate" for t in OBJECT_TYPES} | {"contacts": "createdate", "deals": "createdate"}
# Returned by search and batch read when no `properties` are asked for (HubSpot's search docs).
DEFAULT_PROPERTIES = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
              "hs_object_id", "pipeline"],
} | {t: ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"] for t in ACTIVITY_TYPES}

_COMMON = {"hs_object_id": "number", "hubspot_owner_id": "enumeration"}
_ACTIVITY = {"hs_timestamp": "datetime", "hs_createdate": "datetime", "hs_lastmodifieddate": "datetime"}
# name -> type. Writes naming anything else fail with PROPERTY_DOESNT_EXIST, like HubSpot;
# define_property() (or POST /_sandbox/properties) adds custom ones.
PROPERTIES = {
    "contacts": _COMMON | {"email": "string", "firstname": "string", "lastname": "string", "phone": "string",
                           "company": "string", "lifecyclestage": "enumeration", "createdate": "datetime",
                           "lastmodifieddate": "datetime", "aftercare_customer_id": "string",
                           "aftercare_stage": "string"},
    "deals": _COMMON | {"dealname": "string", "amount": "number", "closedate": "datetime", "dealstage": "enumeration",
                        "pipeline": "enumeration", "deal_currency_code": "enumeration", "createdate": "datetime",
                        "hs_lastmodifieddate": "datetime",
                        "aftercare_order_key": "string", "aftercare_order_state": "string"},
    "notes": _COMMON | _ACTIVITY | {"hs_note_body": "string"},
    "calls": _COMMON | _ACTIVITY | {"hs_call_title": "string", "hs_call_body": "string", "hs_call_status": "string"},
    "emails": _COMMON | _ACTIVITY | {"hs_email_subject": "string", "hs_email_text": "string",
                                     "hs_email_direction": "string"},
    "meetings": _COMMON | _ACTIVITY | {"hs_meeting_title": "string", "hs_meeting_body": "string"},
    "tasks": _COMMON | _ACTIVITY | {"hs_task_subject": "string", "hs_task_body": "string",
                                    "hs_task_status": "string"},
}
# Properties with "hasUniqueValue": usable as idProperty in batch upsert and batch read.
UNIQUE = {"contacts": {"email"}, "deals": {"aftercare_order_key"}}
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate", "hs_lastmodifieddate"}

# (from, to) -> HUBSPOT_DEFINED default association type id.
ASSOCIATION_TYPES = {("deals", "contacts"): 3, ("contacts", "deals"): 4, ("notes", "contacts"): 202,
                     ("contacts", "notes"): 201, ("calls", "contacts"): 194, ("contacts", "calls"): 193,
                     ("emails", "contacts"): 198, ("contacts", "emails"): 197, ("meetings", "contacts"): 200,
                     ("contacts", "meetings"): 199, ("tasks", "contacts"): 204, ("contacts", "tasks"): 203}

# Scopes (HubSpot's granular private-app scopes). Engagements other than emails are governed by the
# contacts scopes; email bodies need sales-email-read.
CONTACTS_READ, CONTACTS_WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"
DEALS_READ, DEALS_WRITE = "crm.objects.deals.read", "crm.objects.deals.write"
OWNERS_READ = "crm.objects.owners.read"
SCHEMAS_CONTACTS_READ, SCHEMAS_DEALS_READ = "crm.schemas.contacts.read", "crm.schemas.deals.read"
SCHEMAS_CONTACTS_WRITE, SCHEMAS_DEALS_WRITE = "crm.schemas.contacts.write", "crm.schemas.deals.write"
SALES_EMAIL_READ = "sales-email-read"
ALL_SCOPES = frozenset({"oauth", CONTACTS_READ, CONTACTS_WRITE, DEALS_READ, DEALS_WRITE, OWNERS_READ,
                        SCHEMAS_CONTACTS_READ, SCHEMAS_DEALS_READ, SCHEMAS_DEALS_WRITE, SALES_EMAIL_READ})
_READ = {"contacts": CONTACTS_READ, "deals": DEALS_READ, "emails": SALES_EMAIL_READ} | {
    t: CONTACTS_READ for t in ("notes", "calls", "meetings", "tasks")}
_WRITE = {"contacts": CONTACTS_WRITE, "deals": DEALS_WRITE} | {
    t: CONTACTS_WRITE for t in ("notes", "calls", "meetings", "tasks", "emails")}


def object_type(name):
    """Canonical plural name, or None for a type the sandbox does not have."""
    name = ALIASES.get(name, name)
    return name if name in OBJECT_TYPES else None


def read_scope(kind):
    return _READ[kind]


def write_scope(kind):
    return _WRITE[kind]
