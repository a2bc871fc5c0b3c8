"""The object endpoints: /crm/v3/objects/{type}/batch/{upsert,update,read,create} and /search.

Each handler takes (crm, kind, body) and returns (status, JSON-able body) or raises ApiError.
HubSpot's rules kept here: at most 100 inputs a batch; upsert only by a unique property
(email for contacts, a hasUniqueValue property for deals); batch *update* by email is refused with
HubSpot's own message; duplicate ids in one batch fail the whole batch; a batch read or update naming
missing records answers 207 with the found ones and an OBJECT_NOT_FOUND error.
"""

from . import schema
from .common import ApiError, correlation_id, invalid_properties, iso_ms
from .search import search

MAX_INPUTS = 100
_TYPE_IDS = {"contacts": "0-1", "deals": "0-3", "notes": "0-46", "calls": "0-48", "emails": "0-49",
             "meetings": "0-47", "tasks": "0-27"}


def _inputs(body):
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ApiError(400, "Invalid input JSON on line 1: inputs must be a non-empty list.")
    if len(inputs) > MAX_INPUTS:
        raise ApiError(400, f"Batch input exceeds the limit of {MAX_INPUTS} inputs (got {len(inputs)}).",
                       context={"limit": [str(MAX_INPUTS)]})
    return inputs


def _duplicates(keys):
    seen, dup = set(), []
    for key in keys:
        if key in seen and key not in dup:
            dup.append(key)
        seen.add(key)
    if dup:
        raise ApiError(400, f"Duplicate IDs found in batch input: {dup}. IDs must be unique",
                       context={"ids": [str(d) for d in dup]})


def _envelope(crm, results, errors=()):
    now = iso_ms(crm.clock.now_ms())
    body = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        body["errors"], body["numErrors"] = list(errors), len(errors)
    return (207 if errors else 200), body


def not_found(kind, ids):
    return {"status": "error", "category": "OBJECT_NOT_FOUND", "correlationId": correlation_id(),
            "message": f"Could not get some {kind[:-1].upper()} objects, they may be deleted or not exist. "
                       "Check that ids are valid.", "context": {"ids": [str(i) for i in ids]}, "links": {},
            "errors": []}


def _result(crm, rec, new=None):
    names = sorted(set(rec.props) | {"hs_object_id", schema.MODIFIED[rec.kind], schema.CREATED[rec.kind]})
    out = crm.store.record_json(rec, names)
    if new is not None:
        out["new"] = new
    return out


def batch_upsert(crm, kind, body):
    parsed = []
    for item in _inputs(body):
        id_property = item.get("idProperty") or "hs_object_id"
        if id_property != "hs_object_id" and id_property not in crm.store.unique[kind]:
            raise ApiError(400, f"Unable to perform update/upsert by non-unique {_TYPE_IDS[kind]} property")
        key = str(item.get("id") or "")
        parsed.append((key.lower() if id_property == "email" else key, id_property, item.get("properties") or {}))
    _duplicates([key for key, _, _ in parsed])
    for key, id_property, _ in parsed:
        if id_property == "hs_object_id" and crm.store.find(kind, key) is None:
            raise ApiError(400, f"Object {key} does not exist: upsert by hs_object_id only updates.")
    results = crm.store.upsert(kind, parsed)
    return _envelope(crm, [_result(crm, rec, new) for rec, new in results])


def batch_update(crm, kind, body):
    inputs = _inputs(body)
    for item in inputs:
        if item.get("idProperty") not in (None, "hs_object_id"):
            # What HubSpot answers to a batch update keyed by email (or any other property).
            raise ApiError(400, f"Unable to perform update/upsert by non-unique {_TYPE_IDS[kind]} property")
    _duplicates([str(item.get("id")) for item in inputs])
    found, missing = [], []
    for item in inputs:
        rec = crm.store.find(kind, str(item.get("id")))
        (found if rec else missing).append((rec, item) if rec else item.get("id"))
    with crm.store.lock:
        problems = [p for rec, item in found for p in crm.store.validate(kind, item.get("properties") or {})]
        if problems:
            raise invalid_properties(problems)
        for rec, item in found:
            crm.store.update(kind, rec, item.get("properties") or {})
    return _envelope(crm, [_result(crm, rec) for rec, _ in found], [not_found(kind, missing)] if missing else ())


def batch_read(crm, kind, body):
    id_property = body.get("idProperty")
    if id_property and id_property != "hs_object_id" and id_property not in crm.store.unique[kind]:
        raise ApiError(400, f"{id_property} is not a unique property of {kind}.")
    names = body.get("properties") or schema.DEFAULT_PROPERTIES[kind]
    found, missing = [], []
    with crm.store.lock:
        for item in _inputs(body):
            rec = crm.store.find(kind, item.get("id"), id_property)
            if rec is None:
                missing.append(item.get("id"))
            else:
                found.append(crm.store.record_json(rec, names))
    return _envelope(crm, found, [not_found(kind, missing)] if missing else ())


def batch_create(crm, kind, body):
    """Not idempotent: sending the same batch twice makes two of everything (contacts: 409 instead)."""
    inputs = _inputs(body)
    with crm.store.lock:
        problems = [p for item in inputs for p in crm.store.validate(kind, item.get("properties") or {})]
        if problems:
            raise invalid_properties(problems)
        for item in inputs:
            email = str((item.get("properties") or {}).get("email", "")).lower()
            existing = crm.store.find(kind, email, "email") if kind == "contacts" and email else None
            if existing:
                raise ApiError(409, f"Contact already exists. Existing ID: {existing.id}", "CONFLICT")
        created = [crm.store.create(kind, item.get("properties") or {}) for item in inputs]
    return 201, _envelope(crm, [_result(crm, rec) for rec in created])[1]


def do_search(crm, kind, body):
    return 200, search(crm.store, kind, body, crm.search_cap)


HANDLERS = {"upsert": batch_upsert, "update": batch_update, "read": batch_read, "create": batch_create}
