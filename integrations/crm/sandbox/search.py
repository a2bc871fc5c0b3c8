"""POST /crm/v3/objects/{type}/search: filterGroups, one sort, offset paging, the results cap.

What a client must survive, copied from HubSpot's search docs and changelog:
  * filter groups are ORed, filters inside a group ANDed; at most 5 groups, 10 filters in a group,
    25 in all (400 beyond);
  * `limit` at most 200 (400 beyond), 10 by default; `after` is an offset rendered as a string;
  * at most `cap` (10,000) results are reachable per query: a page asked for at or past the cap is a
    400, although `paging.next.after` still points there;
  * one sort rule: further rules are ignored here, and records equal on the sort key come back in an
    order that is stable but not by id (see store.Record.tie).
"""

import bisect
from operator import attrgetter

from . import schema
from .common import ApiError, parse_time

MAX_LIMIT = 200  # raised from 100 in 2024
DEFAULT_LIMIT = 10
MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 10, 25  # changelog "Expanded Filtering Capabilities", 2024
RESULTS_CAP = 10_000
_INF = float("inf")


def _typed(store, kind, name, value):
    if value is None or value == "":
        return None
    kind_of = store.properties[kind].get(name)
    if kind_of == "datetime":
        return parse_time(value)
    if kind_of == "number":
        return float(value)
    return str(value)


def _getter(store, kind, name):
    """rec -> the value search compares (ms for stamps, numbers, strings), chosen once per query."""
    if name == "hs_object_id":
        return attrgetter("id")
    if name == schema.MODIFIED[kind]:
        return attrgetter("updated")
    if name == schema.CREATED[kind]:
        return attrgetter("created")
    return lambda rec: _typed(store, kind, name, rec.props.get(name))


def _check(store, kind, groups):
    if len(groups) > MAX_GROUPS or sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS or any(
            len(g.get("filters") or []) > MAX_PER_GROUP for g in groups):
        raise ApiError(400, f"Too many filters: at most {MAX_GROUPS} filterGroups, {MAX_PER_GROUP} filters in a "
                            f"group and {MAX_FILTERS} in all.")
    compiled = []
    for group in groups:
        filters = []
        for f in group.get("filters") or []:
            name, op = f.get("propertyName"), str(f.get("operator", "EQ")).upper()
            if name not in store.properties[kind]:
                raise ApiError(400, f"There was a problem with the request: property {name} does not exist on {kind}.")
            try:
                value = _typed(store, kind, name, f.get("value"))
                high = _typed(store, kind, name, f.get("highValue"))
                values = [_typed(store, kind, name, v) for v in f.get("values") or []]
            except ValueError:
                raise ApiError(400, f"There was a problem with the request: {f.get('value')!r} is not a valid "
                                    f"value for {name}.") from None
            filters.append((name, _getter(store, kind, name), op, value, high, values))
        compiled.append(filters)
    return compiled


def _candidates(store, kind, group):
    """((stamp, id) index entries that may match the group, the filters those bounds already
    applied) narrowed by bisection on its filters on the modification stamp (and on hs_object_id
    next to an EQ stamp), or (None, ()) to scan everything."""
    stamp, lo, hi, equal, covered = schema.MODIFIED[kind], (-_INF,), (_INF,), None, set()
    for i, (name, _, op, value, high, _) in enumerate(group):
        if name != stamp or value is None or op not in ("GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"):
            continue
        covered.add(i)
        if op in ("GT", "GTE"):
            lo = max(lo, (value, _INF if op == "GT" else -_INF))
        elif op in ("LT", "LTE"):
            hi = min(hi, (value, -_INF if op == "LT" else _INF))
        elif op in ("EQ", "BETWEEN"):
            lo, hi = max(lo, (value, -_INF)), min(hi, (high if op == "BETWEEN" and high is not None else value, _INF))
            equal = value if op == "EQ" else None
    for i, (name, _, op, value, _, _) in enumerate(group):
        if equal is not None and name == "hs_object_id" and op in ("GT", "GTE") and value is not None:
            lo = max(lo, (equal, value + (0.5 if op == "GT" else -0.5)))
            covered.add(i)
    if not covered:
        return None, ()
    index = store.by_stamp[kind]
    return index[bisect.bisect_left(index, lo):bisect.bisect_right(index, hi)], covered


def _match(actual, op, value, high, values):
    if op == "HAS_PROPERTY":
        return actual is not None
    if op == "NOT_HAS_PROPERTY":
        return actual is None
    if op == "IN":
        return actual in values
    if op == "NOT_IN":
        return actual not in values
    if op == "NEQ":
        return actual != value
    if actual is None:
        return False
    if op == "EQ":
        return actual == value
    if op == "CONTAINS_TOKEN":
        return str(value).strip("*").lower() in str(actual).lower()
    try:
        return {"GT": lambda: actual > value, "GTE": lambda: actual >= value, "LT": lambda: actual < value,
                "LTE": lambda: actual <= value, "BETWEEN": lambda: value <= actual <= high}[op]()
    except KeyError:
        raise ApiError(400, f"Unknown filter operator {op}.") from None
    except TypeError:
        return False


def _sort_rule(sorts):
    if not sorts:
        return None, False
    first = sorts[0]
    if isinstance(first, str):
        return first.lstrip("-"), first.startswith("-")
    return first.get("propertyName"), str(first.get("direction", "ASCENDING")).upper().startswith("DESC")


def search(store, kind, body, cap=RESULTS_CAP):
    """The search answer for `kind` as a JSON-able dict (raises ApiError for a 400)."""
    limit = int(body.get("limit") or DEFAULT_LIMIT)
    if limit > MAX_LIMIT or limit < 1:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}, was {limit}.")
    offset = int(body.get("after") or 0)
    if offset >= cap:
        raise ApiError(400, f"Search results are limited to {cap} per query: paging to offset {offset} is "
                            "not allowed; narrow the query.")
    sort_name, descending = _sort_rule(body.get("sorts") or [])
    if sort_name and sort_name not in store.properties[kind]:
        raise ApiError(400, f"There was a problem with the request: cannot sort on unknown property {sort_name}.")
    names = list(body.get("properties") or schema.DEFAULT_PROPERTIES[kind])
    with store.lock:
        groups = _check(store, kind, body.get("filterGroups") or [])
        records = store.objects[kind]
        matched = [] if groups else list(records.values())
        seen = set()
        for group in groups:
            narrowed, covered = _candidates(store, kind, group)
            rest = [f for i, f in enumerate(group) if i not in covered]
            for rec in records.values() if narrowed is None else (records[rid] for _, rid in narrowed):
                if rec.id not in seen and all(_match(get(rec), op, v, h, vs) for _, get, op, v, h, vs in rest):
                    seen.add(rec.id)
                    matched.append(rec)
        if sort_name:
            get = _getter(store, kind, sort_name)
            present = [r for r in matched if get(r) is not None]
            missing = [r for r in matched if get(r) is None]
            present.sort(key=lambda r: (get(r), r.tie), reverse=descending)
            matched = present + sorted(missing, key=lambda r: r.tie)
        else:
            matched.sort(key=lambda r: r.id)
        page = matched[offset:min(offset + limit, cap)]
        results = [store.record_json(r, names) for r in page]
    answer = {"total": len(matched), "results": results}
    if offset + limit < len(matched):
        answer["paging"] = {"next": {"after": str(offset + limit)}}
    return answer
