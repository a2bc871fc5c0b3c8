"""The HTTP side: HubSpot's routes, in the order HubSpot checks a request.

Order: the sandbox's own control paths (/_sandbox/..., never faulted or limited), faults (an outage,
forced 5xx, latency: what sits in front of the API), token info (needs no Authorization), bearer
authentication (401), the route (404), rate limits (429, a refused request is not counted), scopes
(403 MISSING_SCOPES), the body (400 on bad JSON), then the endpoint.
"""

import json
import re
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import account, control, objects, schema
from .common import ApiError, error_body
from .faults import REFUSE, UNAVAILABLE, fault_response

_TYPE = r"([a-z0-9_-]+)"


def _kinds(*names):
    kinds = [schema.object_type(n) for n in names]
    if None in kinds:
        raise ApiError(404, f"Unable to infer object type from: {names[kinds.index(None)]}", "OBJECT_NOT_FOUND")
    return kinds


def _object_batch(crm, m, params, body):
    (kind,) = _kinds(m[1])
    return objects.HANDLERS[m[2]](crm, kind, body)


def _object_search(crm, m, params, body):
    (kind,) = _kinds(m[1])
    return objects.do_search(crm, kind, body)


def _property(crm, m, params, body):
    (kind,) = _kinds(m[1])
    return account.property_definition(crm, kind, m[2])


def _property_create(crm, m, params, body):
    (kind,) = _kinds(m[1])
    return account.property_create(crm, kind, body)


def _pipelines(crm, m, params, body):
    (kind,) = _kinds(m[1])
    if kind != "deals":
        raise ApiError(400, f"Pipelines are not supported for {kind} here.")
    return account.pipelines(crm)


def _associate_one(crm, m, params, body):
    from_kind, to_kind = _kinds(m[1], m[3])
    return account.associate(crm, from_kind, to_kind, [(m[2], m[4])])


def _associate_batch(crm, m, params, body):
    from_kind, to_kind = _kinds(m[1], m[2])
    inputs = objects._inputs(body)
    return account.associate(crm, from_kind, to_kind, [(i["from"]["id"], i["to"]["id"]) for i in inputs])


def _associations_read(crm, m, params, body):
    from_kind, to_kind = _kinds(m[1], m[2])
    return account.associations_read(crm, from_kind, to_kind, [i.get("id") for i in objects._inputs(body)])


def _scope_of(which, *groups):
    def needed(m):
        try:
            kinds = _kinds(*[m[g] for g in groups])
        except ApiError:
            return set()
        return {schema.read_scope(k) if which == "read" else schema.write_scope(k) for k in kinds}
    return needed


def _batch_scope(m):
    try:
        (kind,) = _kinds(m[1])
    except ApiError:
        return set()
    return {schema.read_scope(kind) if m[2] == "read" else schema.write_scope(kind)}


# (method, path pattern, handler, scopes needed(match), is a search request)
ROUTES = [
    ("GET", re.compile(r"^/account-info/v3/details/?$"), lambda crm, m, p, b: account.account_details(crm),
     lambda m: set(), False),
    ("GET", re.compile(r"^/crm/v3/owners/?$"), lambda crm, m, p, b: account.owners(crm, p, crm.url),
     lambda m: {schema.OWNERS_READ}, False),
    ("GET", re.compile(rf"^/crm/v3/properties/{_TYPE}/([A-Za-z0-9_]+)/?$"), _property,
     lambda m: {schema.SCHEMAS_DEALS_READ if schema.object_type(m[1]) == "deals" else schema.SCHEMAS_CONTACTS_READ},
     False),
    ("POST", re.compile(rf"^/crm/v3/properties/{_TYPE}/?$"), _property_create,
     lambda m: {schema.SCHEMAS_DEALS_WRITE if schema.object_type(m[1]) == "deals" else schema.SCHEMAS_CONTACTS_WRITE},
     False),
    ("GET", re.compile(rf"^/crm/v3/pipelines/{_TYPE}/?$"), _pipelines, lambda m: {schema.DEALS_READ}, False),
    ("POST", re.compile(rf"^/crm/v3/objects/{_TYPE}/batch/(upsert|update|read|create)/?$"), _object_batch,
     _batch_scope, False),
    ("POST", re.compile(rf"^/crm/v3/objects/{_TYPE}/search/?$"), _object_search, _scope_of("read", 1), True),
    ("PUT", re.compile(rf"^/crm/v4/objects/{_TYPE}/(\d+)/associations/default/{_TYPE}/(\d+)/?$"), _associate_one,
     _scope_of("write", 1), False),
    ("POST", re.compile(rf"^/crm/v4/associations/{_TYPE}/{_TYPE}/batch/associate/default/?$"), _associate_batch,
     _scope_of("write", 1), False),
    ("POST", re.compile(rf"^/crm/v4/associations/{_TYPE}/{_TYPE}/batch/read/?$"), _associations_read,
     _scope_of("read", 1, 2), False),
]
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"
UNAUTHENTICATED = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                   "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")


def missing_scopes(needed):
    return ApiError(403, "This app hasn't been granted all required scopes to make this call. Read more about "
                         "required scopes here: https://developers.hubspot.com/scopes.", "MISSING_SCOPES",
                    errors=[{"message": "One or more of the following scopes are required.",
                             "context": {"requiredGranularScopes": sorted(needed)}}],
                    links={"scopes": "https://developers.hubspot.com/scopes"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection does not hold a thread forever
    # Headers and body go out in two writes: with Nagle's algorithm on, the second waits for the
    # client's delayed ACK (40 ms) on every kept-alive request.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def send(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self._status = status
        if self._logged is not None:  # logged before answering: a client's next request comes after it
            self.server.crm.record_request(*self._logged, status=status)
            self._logged = None
        self.send_response(status)
        merged = {"Content-Type": "application/json;charset=utf-8", **(headers or {})}
        for key, value in merged.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        crm, self._status, self._logged = self.server.crm, None, None
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if split.path.startswith("/_sandbox"):
            status, body = control.handle(crm, method, split.path, params, raw)
            return self.send(status, json.dumps(body, default=str).encode())
        token, parsed = None, None
        self._logged = (method, self.path, None, None)
        try:
            outage = crm.faults.outage_now()
            if outage == REFUSE:  # a kept-alive connection during a "refused" outage: no answer
                self.close_connection = True
                self._status = 0
                return
            forced, latency = crm.faults.take(split.path)
            if latency:
                time.sleep(latency / 1000)
            if outage == UNAVAILABLE:
                return self.send(*fault_response(503))
            if forced:
                return self.send(*fault_response(forced))
            parsed = self._json(raw)
            self._logged = (method, self.path, None, parsed)
            if split.path.rstrip("/") == TOKEN_INFO and method == "POST":
                return self.send(*account.token_info(crm, parsed if isinstance(parsed, dict) else {}))
            token = self._token()
            self._logged = (method, self.path, token, parsed)
            if token is None:
                return self.send(401, error_body(UNAUTHENTICATED, "INVALID_AUTHENTICATION"))
            route, match = self._route(method, split.path)
            if route is None:
                return self.send(404, error_body(f"Unable to route {method} {split.path}", "OBJECT_NOT_FOUND"))
            refused = crm.limits.admit(token, search=route[4])
            if refused:
                return self.send(*refused)
            needed = route[3](match) - crm.tokens[token]
            if needed:
                raise missing_scopes(needed)
            if isinstance(parsed, ApiError):
                raise parsed
            status, body = route[2](crm, match, params, parsed if isinstance(parsed, dict) else {})
            self.send(status, body, crm.limits.headers(token))
        except ApiError as exc:
            self._send_quietly(exc.status, exc.body, exc.headers)
        except OSError:  # the client gave up (its timeout) and closed the connection: nobody to answer
            self.close_connection = True
        except Exception:  # a sandbox bug must still answer, and stay visible
            crm.errors.append(traceback.format_exc())
            self._send_quietly(500, error_body("internal error", "INTERNAL_ERROR"))
        finally:
            if self._logged is not None:  # nothing was answered (a dropped connection)
                crm.record_request(*self._logged, status=self._status)

    def _send_quietly(self, status, body, headers=None):
        try:
            self.send(status, body, headers)
        except OSError:
            self.close_connection = True

    def _json(self, raw):
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            return ApiError(400, f"Invalid input JSON on line 1, column {getattr(exc, 'colno', 1)}: {exc.msg}")

    def _token(self):
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or value.strip() not in self.server.crm.tokens:
            return None
        return value.strip()

    @staticmethod
    def _route(method, path):
        for route in ROUTES:
            match = route[1].match(path)
            if match and route[0] == method:
                return route, match
        return None, None


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, crm, host="127.0.0.1", port=0, verbose=False):
        super().__init__((host, port), Handler)
        self.crm, self.verbose = crm, verbose
        self._thread = None

    def start(self):
        # A short poll interval makes stop() quick (tests start and stop many servers).
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="crm-sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)
