"""Collection queries as WordPress answers them: argument validation, date filters, paging headers.

Faithful details worth knowing when writing a client:
* Dates: WP_Date_Query takes a value without an offset as wall-clock time in the column compared
  (post_modified_gmt when dates_are_gmt=true); a value WITH an offset ("...Z", "+02:00") is first
  converted to the *site* timezone, even when the column is GMT. So send naive UTC with
  dates_are_gmt=true. "after"/"before" are exclusive.
* Link: WooCommerce builds it with add_query_arg() from the request's query (credentials and oauth_*
  parameters included), urlencoding values; a "+" in a value comes back as "+" and means a space.
* Offsets paginate live data: a change between two page requests shifts rows across pages.
"""

import math
import re
from datetime import datetime, timezone
from urllib.parse import quote_plus, unquote_plus

from .common import API_PREFIX, iso
from .lifecycle import STATUSES

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}(?::\d{2})?)?$")
_INT = {"type": "integer"}
_INTS = {"type": "int_list", "default": []}
_DATE_ARG = {"type": "date"}
_PAGING = [("page", {"type": "integer", "default": 1, "minimum": 1}),
           ("per_page", {"type": "integer", "default": 10, "minimum": 1, "maximum": 100}),
           ("search", {"type": "string"})]
ORDER_ARGS = _PAGING + [
    ("after", _DATE_ARG), ("before", _DATE_ARG), ("modified_after", _DATE_ARG),
    ("modified_before", _DATE_ARG), ("dates_are_gmt", {"type": "boolean", "default": False}),
    ("exclude", _INTS), ("include", _INTS), ("offset", _INT),
    ("order", {"type": "enum", "default": "desc", "enum": ["asc", "desc"]}),
    ("orderby", {"type": "enum", "default": "date", "enum": ["date", "id", "include", "title", "slug", "modified"]}),
    ("parent", _INTS), ("parent_exclude", _INTS),
    ("status", {"type": "enum_list", "default": ["any"], "enum": None}),
    ("customer", _INT), ("product", _INT)]
CUSTOMER_ARGS = _PAGING + [
    ("exclude", _INTS), ("include", _INTS), ("offset", _INT),
    ("order", {"type": "enum", "default": "asc", "enum": ["asc", "desc"]}),
    ("orderby", {"type": "enum", "default": "name", "enum": ["id", "include", "name", "registered_date"]}),
    ("email", {"type": "string"}),
    ("role", {"type": "enum", "default": "customer", "enum": ["all", "administrator", "editor", "author",
                                                              "contributor", "subscriber", "customer", "shop_manager"]})]
WEBHOOK_ARGS = _PAGING + [
    ("after", _DATE_ARG), ("before", _DATE_ARG), ("exclude", _INTS), ("include", _INTS), ("offset", _INT),
    ("order", {"type": "enum", "default": "desc", "enum": ["asc", "desc"]}),
    ("orderby", {"type": "enum", "default": "date", "enum": ["date", "id", "title"]}),
    ("status", {"type": "enum", "default": "all", "enum": ["all", "active", "paused", "disabled"]})]


def parse_query(query: str) -> dict:
    """$_GET as PHP builds it: decoded, last value wins, `key[]`/`key[n]` collected into lists."""
    params = {}
    for part in query.split("&") if query else ():
        if not part:
            continue
        key, _, value = part.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        base, bracket, _ = key.partition("[")
        if bracket and base:
            params.setdefault(base, [])
            if isinstance(params[base], list):
                params[base].append(value)
        else:
            params[key] = value
    return params


def validate(args, params, statuses=()):
    """(values, None) or (None, error body) with WordPress's rest_invalid_param shape."""
    values, invalid, details = {}, {}, {}
    for name, spec in args:
        if name not in params:
            values[name] = spec.get("default")
            continue
        value, problem = _coerce(name, spec, params[name], statuses)
        if problem:
            code, message = problem
            invalid[name] = message
            details[name] = {"code": code, "message": message, "data": None}
        values[name] = value
    if invalid:
        return None, {"code": "rest_invalid_param", "message": "Invalid parameter(s): " + ", ".join(invalid),
                      "data": {"status": 400, "params": invalid, "details": details}}
    return values, None


def _coerce(name, spec, raw, statuses):
    kind = spec["type"]
    if kind in ("int_list", "enum_list"):
        items = raw if isinstance(raw, list) else [v for v in re.split(r"[\s,]+", raw) if v]
        out = []
        for i, item in enumerate(items):
            sub = {"type": "integer"} if kind == "int_list" else {"type": "enum", "enum": spec["enum"]}
            value, problem = _coerce(f"{name}[{i}]", sub, item, statuses)
            if problem:
                return None, problem
            out.append(value)
        return out, None
    if isinstance(raw, list):
        return None, ("rest_invalid_type", f"{name} is not of type {_TYPE_NAMES[kind]}.")
    if kind == "integer":
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not number.is_integer():
            return None, ("rest_invalid_type", f"{name} is not of type integer.")
        number = int(number)
        lo, hi = spec.get("minimum"), spec.get("maximum")
        if lo is not None and hi is not None and not lo <= number <= hi:
            return None, ("rest_out_of_bounds", f"{name} must be between {lo} (inclusive) and {hi} (inclusive)")
        if lo is not None and number < lo:
            return None, ("rest_out_of_bounds", f"{name} must be greater than or equal to {lo}")
        return number, None
    if kind == "boolean":
        low = raw.lower()
        if low in ("true", "1", "false", "0", ""):
            return low in ("true", "1"), None
        return None, ("rest_invalid_type", f"{name} is not of type boolean.")
    if kind == "date":
        return (raw, None) if _DATE.match(raw) else (None, ("rest_invalid_date", "Invalid date."))
    if kind == "enum":
        allowed = spec["enum"] if spec["enum"] is not None else ["any", "trash", *STATUSES, *sorted(statuses)]
        if raw not in allowed:
            listed = ", ".join(allowed[:-1]) + ", and " + allowed[-1]
            return None, ("rest_not_in_enum", f"{name} is not one of {listed}.")
        return raw, None
    return raw, None


_TYPE_NAMES = {"integer": "integer", "boolean": "boolean", "date": "string", "enum": "string", "string": "string"}


def date_bound(value, gmt_column, offset):
    """WP_Date_Query's bound for a REST date, expressed against the *_gmt column."""
    day, clock, tz = _DATE.match(value).groups()
    wall = datetime.fromisoformat(f"{day}T{clock}")
    if tz:  # date_create() honours the offset, then setTimezone(site) turns it into site time
        tz = "+00:00" if tz in "Zz" else tz + (":00" if len(tz) == 3 else "")
        aware = datetime.fromisoformat(f"{day}T{clock}{tz}")
        wall = aware.astimezone(timezone(offset)).replace(tzinfo=None)
    return iso(wall if gmt_column else wall - offset)


def select_orders(store, q):
    """Matching order ids in response order. Uses the date_modified index when it can."""
    gmt, off = q["dates_are_gmt"], store.utc_offset
    ca, cb, ma, mb = (date_bound(q[k], gmt, off) if q[k] else None
                      for k in ("after", "before", "modified_after", "modified_before"))
    ids = store.modified_range(ma, mb) if (ma or mb) else list(store.orders)
    statuses = q["status"]
    allowed = None if "any" in statuses else set(statuses)
    include, exclude = set(q["include"]), set(q["exclude"])
    parents, parents_not = set(q["parent"]), set(q["parent_exclude"])
    customer, product = q["customer"], q["product"]
    needle = (q["search"] or "").lower()
    orders, out = store.orders, []
    for i in ids:
        o = orders[i]
        st = o["status"]
        if (st == "trash" if allowed is None else st not in allowed):
            continue
        if (ca and o["date_created_gmt"] <= ca) or (cb and o["date_created_gmt"] >= cb):
            continue
        if customer is not None and o["customer_id"] != customer:
            continue
        if (include and i not in include) or (exclude and i in exclude):
            continue
        if (parents and o["parent_id"] not in parents) or (parents_not and o["parent_id"] in parents_not):
            continue
        if product is not None and all(li["product_id"] != product for li in o["line_items"]):
            continue
        if needle and needle not in _haystack(o):
            continue
        out.append(o)
    key = _ORDER_KEYS.get(q["orderby"], _ORDER_KEYS["date"])
    if q["orderby"] == "include" and q["include"]:
        position = {v: n for n, v in enumerate(q["include"])}
        key = lambda o: position.get(o["id"], 0)  # noqa: E731
    out.sort(key=key, reverse=q["order"] == "desc")
    return [o["id"] for o in out]


def _title(o):
    created = datetime.fromisoformat(o["date_created"])
    return "Order &ndash; " + created.strftime("%B %-d, %Y @ %I:%M %p")


def _slug(o):
    return "order-" + datetime.fromisoformat(o["date_created"]).strftime("%b-%d-%Y-%I%M-%p").lower()


_ORDER_KEYS = {"date": lambda o: (o["date_created_gmt"], o["id"]), "id": lambda o: o["id"],
               "modified": lambda o: (o["date_modified_gmt"], o["id"]),
               "title": lambda o: (_title(o), o["id"]), "slug": lambda o: (_slug(o), o["id"])}


def _haystack(o):
    b, s = o["billing"], o["shipping"]
    parts = [str(o["id"]), *b.values(), *s.values(), *(li["name"] for li in o["line_items"])]
    return " ".join(parts).lower()


def select_customers(store, q):
    out = []
    needle, email = (q["search"] or "").lower(), (q["email"] or "").lower()
    include, exclude = set(q["include"]), set(q["exclude"])
    for c in store.customers.values():
        if q["role"] not in ("all", c["role"]) or (email and c["email"].lower() != email):
            continue
        if (include and c["id"] not in include) or (exclude and c["id"] in exclude):
            continue
        if needle and needle not in f"{c['username']} {c['email']} {c['first_name']} {c['last_name']}".lower():
            continue
        out.append(c)
    keys = {"id": lambda c: c["id"], "registered_date": lambda c: (c["date_created_gmt"], c["id"]),
            "name": lambda c: c["username"]}
    key = keys.get(q["orderby"], keys["name"])
    if q["orderby"] == "include" and q["include"]:
        position = {v: n for n, v in enumerate(q["include"])}
        key = lambda c: position.get(c["id"], 0)  # noqa: E731
    out.sort(key=key, reverse=q["order"] == "desc")
    return [c["id"] for c in out]


def select_webhooks(store, q):
    hooks = [w for w in store.webhooks.values()
             if q["status"] in ("all", w["status"])
             and (not q["include"] or w["id"] in q["include"]) and w["id"] not in q["exclude"]
             and (not q["search"] or q["search"].lower() in w["name"].lower())]
    keys = {"id": lambda w: w["id"], "title": lambda w: (w["name"], w["id"])}
    hooks.sort(key=keys.get(q["orderby"], lambda w: (w["date_created_gmt"], w["id"])),
               reverse=q["order"] == "desc")
    return [w["id"] for w in hooks]


def paginate(store, route, params, q, ids):
    """(page ids, headers) with X-WP-Total, X-WP-TotalPages and Link exactly as WooCommerce sets them."""
    per_page, page = q["per_page"], q["page"]
    start = q["offset"] if q.get("offset") is not None else (page - 1) * per_page
    total = len(ids)
    pages = math.ceil(total / per_page)
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    base = _add_query_args(f"{store.base_url}/wp-json{route}", params)
    links = []
    if page > 1:
        links.append(f'<{_with_page(base, min(page - 1, pages))}>; rel="prev"')
    if pages > page:
        links.append(f'<{_with_page(base, page + 1)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return ids[max(start, 0):max(start, 0) + per_page], headers


def _add_query_args(url, params):
    """add_query_arg($request->get_query_params(), rest_url(...)): values go in undecoded."""
    parts = []
    for key, value in params.items():
        if isinstance(value, list):
            parts += [f"{key}%5B{n}%5D={v}" for n, v in enumerate(value)]
        else:
            parts.append(f"{key}={value}")
    query = re.sub(r"=(&|$)", r"\1", "&".join(parts))
    return f"{url}?{query}" if query else url


def _with_page(base, page):
    """add_query_arg('page', n, $base): the existing query is re-parsed and urlencoded."""
    url, _, query = base.partition("?")
    pairs = {}
    for part in query.split("&") if query else ():
        key, _, value = part.partition("=")
        pairs[unquote_plus(key)] = unquote_plus(value)
    pairs["page"] = str(page)
    encoded = "&".join(f"{k.replace('[', '%5B').replace(']', '%5D')}={quote_plus(v, safe='').replace('~', '%7E')}"
                       for k, v in pairs.items())
    return f"{url}?" + re.sub(r"=(&|$)", r"\1", encoded)


ROUTES = {"orders": (ORDER_ARGS, select_orders), "customers": (CUSTOMER_ARGS, select_customers),
          "webhooks": (WEBHOOK_ARGS, select_webhooks)}


def list_collection(store, resource, params):
    """(status, headers, body bytes) for GET /<resource>; call with store.lock held."""
    args, select = ROUTES[resource]
    q, error = validate(args, params, store.extra_statuses)
    if error:
        return 400, {}, error
    cache_key = (resource, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in q.items()
                                 if k not in ("page", "per_page", "offset")))
    if store.query_cache.get("version") != store.version:
        store.query_cache = {"version": store.version}
    ids = store.query_cache.get(cache_key)
    if ids is None:
        if len(store.query_cache) > 64:  # bounded: one entry per distinct filter/sort combination
            store.query_cache = {"version": store.version}
        ids = store.query_cache[cache_key] = select(store, q)
    page_ids, headers = paginate(store, f"{API_PREFIX[len('/wp-json'):]}/{resource}", params, q, ids)
    render = {"orders": store.order_json, "customers": store.customer_json,
              "webhooks": store.webhook_json}[resource]
    return 200, headers, b"[" + b",".join(render(i) for i in page_ids) + b"]"

