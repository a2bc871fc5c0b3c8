"""The account endpoints: token info, owners, property definitions, deal pipelines, associations.

Shapes follow HubSpot's reference (and the models of hubspot-api-client, which refuse a response
missing a required field): owners paged by an opaque `after`, the lifecyclestage property with its
options, one "default" deal pipeline, v4 default associations and their batch read.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import schema
from .common import APP_ID, APP_USER_ID, PORTAL_ID, ApiError, correlation_id, iso_ms

OWNERS_MAX_LIMIT = 500
_DESCRIPTIONS = {"lifecyclestage": "The qualification of contacts to sales readiness. It can be set through "
                                   "imports, forms, workflows, and manually on a per contact basis."}


def token_info(crm, body):
    """POST /oauth/v2/private-apps/get/access-token-info {"tokenKey": ...} (no Authorization needed)."""
    scopes = crm.tokens.get(str(body.get("tokenKey") or ""))
    if scopes is None:
        raise ApiError(401, "The access token provided is invalid or has been rotated.", "INVALID_AUTHENTICATION")
    return 200, {"userId": APP_USER_ID, "hubId": PORTAL_ID, "appId": APP_ID, "scopes": sorted(scopes)}


def account_details(crm):
    """GET /account-info/v3/details: the account's id, currency and time zone (any valid token)."""
    offset = datetime.now(ZoneInfo(crm.time_zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    return 200, {"portalId": PORTAL_ID, "accountType": "STANDARD", "timeZone": crm.time_zone,
                 "companyCurrency": "USD", "additionalCurrencies": [],
                 "utcOffset": f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
                 "utcOffsetMilliseconds": minutes * 60_000, "uiDomain": "app.hubspot.com",
                 "dataHostingLocation": "na1"}


def owners(crm, params, base_url):
    limit = min(int(params.get("limit") or 100), OWNERS_MAX_LIMIT)
    offset = int(params.get("after") or 0)
    archived = str(params.get("archived", "false")).lower() == "true"
    with crm.store.lock:
        rows = [o for o in crm.store.owners if o["archived"] == archived]
        if params.get("email"):
            rows = [o for o in rows if o["email"].lower() == params["email"].lower()]
        page = [dict(o) for o in rows[offset:offset + limit]]
    body = {"results": page}
    if offset + limit < len(rows):
        after = str(offset + limit)
        body["paging"] = {"next": {"after": after, "link": f"{base_url}/crm/v3/owners/?after={after}"}}
    return 200, body


PROPERTY_TYPES = {"string", "number", "date", "datetime", "enumeration", "bool"}


def property_create(crm, kind, body):
    """POST /crm/v3/properties/{objectType}: a custom property (HubSpot wants name, label, type,
    fieldType and groupName); 409 when one of that name exists."""
    missing = [f for f in ("name", "label", "type", "fieldType", "groupName") if not body.get(f)]
    if missing:
        raise ApiError(400, f"Property create is missing {', '.join(missing)}.")
    name = str(body["name"])
    if body["type"] not in PROPERTY_TYPES:
        raise ApiError(400, f"{body['type']!r} is not a valid property type.")
    with crm.store.lock:
        if name in crm.store.properties[kind]:
            raise ApiError(409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
    crm.store.define_property(kind, name, body["type"], unique=bool(body.get("hasUniqueValue")))
    return 201, property_definition(crm, kind, name)[1]


def property_definition(crm, kind, name):
    with crm.store.lock:
        type_ = crm.store.properties[kind].get(name)
        if type_ is None:
            raise ApiError(404, f"Unable to find property {name} on object type {kind}", "OBJECT_NOT_FOUND")
        options = [dict(o) for o in crm.store.lifecycle] if name == "lifecyclestage" else []
        if name == "dealstage":
            options = [{"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
                       for i, (value, label, _, _) in enumerate(schema.DEAL_STAGES)]
    stamp = iso_ms(crm.started_ms)
    return 200, {"name": name, "label": name.replace("_", " ").title() if name != "lifecyclestage" else "Lifecycle Stage",
                 "type": type_, "fieldType": "radio" if options else "text",
                 "description": _DESCRIPTIONS.get(name, ""), "groupName": f"{kind[:-1]}information",
                 "options": options, "displayOrder": -1, "calculated": False, "externalOptions": False,
                 "hasUniqueValue": name in crm.store.unique[kind], "hidden": False,
                 "hubspotDefined": not name.startswith("aftercare_"), "formField": True,
                 "createdAt": stamp, "updatedAt": stamp,
                 "modificationMetadata": {"archivable": True, "readOnlyDefinition": True,
                                          "readOnlyValue": name in schema.READ_ONLY}}


def pipelines(crm):
    stamp = iso_ms(crm.started_ms)
    stages = [{"id": value, "label": label, "displayOrder": i, "archived": False, "createdAt": stamp,
               "updatedAt": stamp, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
               "metadata": {"isClosed": "true" if closed else "false", "probability": probability}}
              for i, (value, label, probability, closed) in enumerate(schema.DEAL_STAGES)]
    return 200, {"results": [{"id": schema.PIPELINE, "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
                              "createdAt": stamp, "updatedAt": stamp, "stages": stages}]}


def _spec(from_kind, to_kind):
    return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": schema.ASSOCIATION_TYPES[(from_kind, to_kind)]}


def associate(crm, from_kind, to_kind, pairs):
    """Default (unlabelled) associations for [(from id, to id)], both directions, like HubSpot."""
    if (from_kind, to_kind) not in schema.ASSOCIATION_TYPES:
        raise ApiError(400, f"No default association between {from_kind} and {to_kind}.")
    missing = [str(i) for f, t in pairs for kind, i in ((from_kind, f), (to_kind, t))
               if crm.store.find(kind, i) is None]
    if missing:
        raise ApiError(400, f"Objects not found: {', '.join(missing)}", "OBJECT_NOT_FOUND",
                       context={"ids": missing})
    results = []
    for from_id, to_id in pairs:
        crm.store.associate(from_kind, int(from_id), to_kind, int(to_id))
        results.append({"from": {"id": str(from_id)}, "to": {"id": str(to_id)},
                        "associationSpec": _spec(from_kind, to_kind)})
        results.append({"from": {"id": str(to_id)}, "to": {"id": str(from_id)},
                        "associationSpec": _spec(to_kind, from_kind)})
    now = iso_ms(crm.clock.now_ms())
    return 200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}


def associations_read(crm, from_kind, to_kind, ids):
    """v4 batch read: each object's associated ids; objects with none come back as 207 errors."""
    results, errors = [], []
    type_id = schema.ASSOCIATION_TYPES.get((from_kind, to_kind))
    for object_id in ids:
        linked = crm.store.associated(from_kind, int(object_id), to_kind) if str(object_id).isdigit() else []
        if linked:
            results.append({"from": {"id": str(object_id)},
                            "to": [{"toObjectId": to_id, "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
                                   for to_id in linked]})
        else:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "correlationId": correlation_id(),
                           "message": f"No {to_kind} is associated with {from_kind[:-1]} {object_id}.",
                           "context": {"fromObjectId": [str(object_id)]}, "links": {}, "errors": []})
    now = iso_ms(crm.clock.now_ms())
    body = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        body["errors"], body["numErrors"] = errors, len(errors)
    return (207 if errors else 200), body
