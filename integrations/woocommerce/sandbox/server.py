"""The HTTP side: WordPress REST routing for /wp-json/wc/v3/{orders,customers,webhooks}.

Request order follows WordPress: faults (the host in front), authentication (401 before any
routing), route (404 rest_no_route), argument validation (400), the endpoint's permission check
(401 for anonymous requests), then the endpoint. Bodies are PHP-style JSON, like wp_json_encode.
"""

import json
import os
import re
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import control, query
from .auth import authenticate, forbidden
from .common import API_PREFIX, php_json
from .faults import DROP, fault_response

_ITEM = re.compile(rf"^{API_PREFIX}/(orders|customers|webhooks)(?:/(\d+))?/?$")
_NOT_FOUND = {
    "orders": (404, {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}),
    "customers": (404, {"code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID.", "data": {"status": 404}}),
    # WC_REST_Webhooks_V2_Controller::prepare_item_for_response answers a missing id with 400.
    "webhooks": (400, {"code": "woocommerce_rest_shop_webhook_invalid_id", "message": "ID is invalid.", "data": {"status": 400}}),
}
NO_ROUTE = {"code": "rest_no_route", "message": "No route was found matching the URL and request method.",
            "data": {"status": 404}}
_BASE_HEADERS = {"X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff",
                 "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
                 "Access-Control-Allow-Headers": "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""
    timeout = 60  # idle keep-alive connections do not hold a thread forever

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # in this worker thread, not in the accept loop

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

    # -- plumbing ------------------------------------------------------------------------------
    def send(self, status, body, headers=None, wordpress=True):
        if isinstance(body, (dict, list)):
            body = php_json(body)
        self.send_response(status)
        merged = {"Content-Type": "application/json; charset=UTF-8", **(_BASE_HEADERS if wordpress else {}),
                  **(headers or {})}
        for key, value in merged.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._status = status

    def _handle(self, method):
        store, self._status = self.server.store, None
        split = urlsplit(self.path)
        params = query.parse_query(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if split.path.startswith("/__sandbox__"):
            status, body = control.handle(store, method, split.path, params, raw)
            return self.send(status, json.dumps(body, default=str).encode(), {"Content-Type": "application/json"})
        number, fault, latency, strip = store.faults.take()
        if latency:
            time.sleep(latency / 1000)
        try:
            if fault and fault[0] == DROP:
                self.close_connection = True
                self._status = 0
                return
            if fault:
                return self.send(*fault_response(*fault), wordpress=fault[0] == 500)
            self._rest(store, method, split.path, params, raw, strip)
        finally:
            store.requests.append({"n": number, "method": method, "path": self.path, "status": self._status,
                                   "authorization": self.headers.get("Authorization") is not None and not strip})

    def _rest(self, store, method, path, params, raw, strip):
        headers = {k.lower(): v for k, v in self.headers.items()}
        if strip:  # hosts (CGI/FastCGI setups) that never pass Authorization to PHP
            headers.pop("authorization", None)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        form = query.parse_query(raw.decode("utf-8", "replace")) if ctype == "application/x-www-form-urlencoded" else {}
        try:
            data = json.loads(raw) if raw and ctype == "application/json" else {}
        except ValueError:
            return self.send(400, {"code": "rest_invalid_json", "message": "Invalid JSON body passed.",
                                   "data": {"status": 400, "json_error_code": 4, "json_error_message": "Syntax error"}})
        scheme = "https" if self.server.tls else "http"
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_port}"
        auth = authenticate(store, method, f"{scheme}://{host}", path, headers, params, form)
        if auth.error:
            extra = {}
            if auth.method == "basic_auth":
                extra["WWW-Authenticate"] = ('Basic realm="WooCommerce API. Use a consumer key in the username '
                                             'field and a consumer secret in the password field."')
            return self.send(401, auth.error, extra)
        if path.rstrip("/") in ("/wp-json", API_PREFIX) and method == "GET":
            return self.send(200, control.index(store))
        match = _ITEM.match(path)
        if not match:
            return self.send(404, NO_ROUTE)
        resource, item_id = match.group(1), match.group(2)
        body = {**params, **form, **(data if isinstance(data, dict) else {})}
        if method == "GET":
            with store.lock:  # build under the lock, write to the socket after releasing it
                answer = (self._list(store, resource, params, auth.user) if item_id is None
                          else self._item(store, resource, int(item_id), auth.user))
            return self.send(*answer)
        if item_id is None and method == "POST" and resource == "webhooks":
            return self.send(*control.create_webhook(store, body, auth.user, forbidden))
        if item_id is not None and resource == "webhooks" and method in ("PUT", "PATCH", "POST", "DELETE"):
            return self.send(*control.change_webhook(store, int(item_id), method, body, auth.user, forbidden))
        return self.send(404, NO_ROUTE)

    @staticmethod
    def _list(store, resource, params, user):
        if not user:  # arguments are validated before the permission check, as WordPress does
            _, error = query.validate(query.ROUTES[resource][0], params, store.extra_statuses)
            return (400, error) if error else (401, forbidden("list"))
        status, headers, body = query.list_collection(store, resource, params)
        return status, body, headers

    @staticmethod
    def _item(store, resource, item_id, user):
        exists = item_id in {"orders": store.orders, "customers": store.customers,
                             "webhooks": store.webhooks}[resource]
        # Orders check permission on an existing object only: an anonymous miss is still a 404.
        if not user and (exists or resource != "orders"):
            return 401, forbidden("view")
        if not exists:
            return _NOT_FOUND[resource]
        render = {"orders": store.order_json, "customers": store.customer_json, "webhooks": store.webhook_json}
        return 200, render[resource](item_id)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store, host="127.0.0.1", port=0, tls=False, verbose=False, public_url=None):
        super().__init__((host, port), Handler)
        self.store, self.verbose, self.tls, self.cafile = store, verbose, tls, None
        if tls:
            self.cafile = _self_signed_cert(self)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = public_url or f"{'https' if tls else 'http'}://{shown}:{self.server_port}"
        self._thread = None

    def start(self):
        # A short poll interval makes stop() quick (tests start and stop many servers).
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="wc-sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def _self_signed_cert(server):
    """A throwaway certificate for 127.0.0.1/localhost via the openssl CLI; returns its path
    (give it to clients as the CA bundle: requests' verify=store.cafile)."""
    folder = tempfile.mkdtemp(prefix="wc-sandbox-tls-")
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return cert
