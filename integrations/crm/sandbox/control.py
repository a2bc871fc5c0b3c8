"""The sandbox's own control endpoints (no auth, plain JSON; not part of HubSpot).

  GET  /_sandbox                         summary: counts, limits, faults, counters
  GET  /_sandbox/state[?type=contacts]   every record with all its properties (+ owners, stages)
  GET  /_sandbox/counters                requests, by status, 429s by policy, faults injected
  GET  /_sandbox/requests?since=N        the request log (method, path, status, parsed body)
  GET|POST /_sandbox/faults              {"fail_next": {"status", "count", "path"}, "latency_ms",
                                          "outage": {"seconds", "mode": "refuse"|"503"}, "end_outage", "reset"}
  GET|POST /_sandbox/limits              {"tier", "per_window", "window_seconds", "search_per_second",
                                          "daily", "retry_after": null|"window"|seconds, "enabled", "reset"}
  POST /_sandbox/search-cap              {"cap": 10000}
  POST /_sandbox/contacts/bulk           {"count", "modified_at": ms|ISO, "prefix", "properties"}
  POST /_sandbox/<contacts|deals>/<id or email>/edit   {"properties": {...}}  an edit by hand
  POST /_sandbox/activities              {"type": "notes", "contacts": [id|email], "properties",
                                          "occurred_at", "modified_at"}
  POST /_sandbox/lifecycle-stages        {"label", "value", "display_order"}   a custom stage
  POST /_sandbox/owners                  {"email", "first_name", "last_name", "archived"}
  POST /_sandbox/properties              {"type": "contacts", "name", "property_type": "string"}
  POST /_sandbox/tokens                  {"token", "scopes": [...] (omit for all)}
  POST /_sandbox/clock/advance           {"seconds"}   moves the record clock (timestamps)
  GET|POST /_sandbox/webhooks            {"url", "secret", "subscriptions"}; GET lists attempts
  POST /_sandbox/webhooks/deliver        send queued webhook events now
"""

import json
import re

from . import schema
from .common import parse_time

_EDIT = re.compile(r"^/_sandbox/(contacts|deals)/([^/]+)/edit$")


def handle(crm, method, path, params, raw):
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return 400, {"error": "body must be JSON"}
    try:
        return _dispatch(crm, method, path.rstrip("/") or "/", params, data)
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


def _dispatch(crm, method, path, params, data):
    post = method == "POST"
    if path == "/_sandbox":
        return 200, crm.summary()
    if path == "/_sandbox/state":
        return 200, crm.store.snapshot(schema.object_type(params["type"]) if params.get("type") else None)
    if path == "/_sandbox/counters":
        return 200, crm.counters()
    if path == "/_sandbox/requests":
        since = int(params.get("since") or 0)
        return 200, [r for r in list(crm.requests) if r["n"] > since]
    if path == "/_sandbox/faults":
        if post:
            crm.faults.configure(data)
        return 200, crm.faults.snapshot()
    if path == "/_sandbox/limits":
        if post:
            crm.limits.configure(data)
        return 200, crm.limits.snapshot()
    if path == "/_sandbox/search-cap" and post:
        crm.search_cap = int(data["cap"])
        return 200, {"cap": crm.search_cap}
    if path == "/_sandbox/contacts/bulk" and post:
        modified = data.get("modified_at")
        recs = crm.store.bulk_contacts(int(data["count"]), parse_time(modified) if modified is not None else None,
                                       data.get("prefix", "bulk"), data.get("properties"))
        return 201, {"created": len(recs), "first_id": str(recs[0].id) if recs else None,
                     "last_id": str(recs[-1].id) if recs else None}
    match = _EDIT.match(path)
    if match and post:
        rec = crm.store.edit(match[1], match[2], data.get("properties") or {})
        return 200, crm.store.record_json(rec, sorted(set(rec.props) | {"hs_object_id"}))
    if path == "/_sandbox/activities" and post:
        rec = crm.add_activity(data["type"], data.get("contacts") or [], data.get("properties"),
                               occurred_at=data.get("occurred_at"), modified_at=data.get("modified_at"))
        return 201, crm.store.record_json(rec, sorted(set(rec.props) | {"hs_object_id"}))
    if path == "/_sandbox/lifecycle-stages" and post:
        return 201, crm.store.add_lifecycle_stage(data["label"], data["value"], data.get("display_order"))
    if path == "/_sandbox/owners" and post:
        return 201, crm.store.add_owner(data["email"], data.get("first_name", ""), data.get("last_name", ""),
                                        bool(data.get("archived")))
    if path == "/_sandbox/properties" and post:
        crm.store.define_property(schema.object_type(data["type"]), data["name"], data.get("property_type", "string"))
        return 201, {"type": data["type"], "name": data["name"]}
    if path == "/_sandbox/tokens" and post:
        crm.add_token(data["token"], data.get("scopes"))
        return 201, {"token": data["token"], "scopes": sorted(crm.tokens[data["token"]])}
    if path == "/_sandbox/clock/advance" and post:
        return 200, {"now_ms": crm.clock.advance(float(data.get("seconds", 1)))}
    if path == "/_sandbox/webhooks":
        if post:
            crm.webhooks.configure(data.get("url"), data.get("secret"), data.get("subscriptions"))
        return 200, {"url": crm.webhooks.url, "pending": len(crm.webhooks.pending),
                     "attempts": list(crm.webhooks.attempts)}
    if path == "/_sandbox/webhooks/deliver" and post:
        return 200, crm.webhooks.deliver()
    return 404, {"error": f"no sandbox endpoint {method} {path}"}
