"""WC_REST_Authentication, reproduced: consumer keys by query string or Basic, and OAuth 1.0a.

Order, as WooCommerce checks: consumer_key/consumer_secret in the query string first, then the
Basic header; an unknown key falls through silently (the request is then anonymous and the
endpoint answers 401 "Sorry, you cannot list resources."), a known key with a wrong secret is
"Consumer secret is invalid.". Without either, OAuth 1.0a one-legged signatures in the query
(what the official Python client sends to a plain-http store) are checked: signature
(HMAC-SHA1/SHA256 with secret + "&"), a 15-minute timestamp window and nonce reuse.

Deviation: real WooCommerce only accepts keys (query string or Basic) over HTTPS; the sandbox
accepts them over plain HTTP too, so tests need no certificate (serve with tls=True to be exact).
"""

import base64
import binascii
import hashlib
import hmac
import time
from urllib.parse import quote, unquote

OAUTH_PARAMS = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature",
                "oauth_signature_method")
WINDOW = 15 * 60  # WC_REST_Authentication::check_oauth_timestamp_and_nonce
_WRITE = ("POST", "PUT", "PATCH", "DELETE")


class AuthResult:
    def __init__(self, user=False, error=None, method=None):
        self.user, self.error, self.method = user, error, method


def _error(message, code="woocommerce_rest_authentication_error"):
    return {"code": code, "message": message, "data": {"status": 401}}


def _basic(header):
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


def _oauth_header(header):
    if not header or not header[:6].lower() == "oauth ":
        return {}
    params = {}
    for part in header[6:].split(","):
        key, _, value = part.strip().partition("=")
        if key.startswith("oauth_"):
            params[key] = unquote(value.strip().strip('"'))
    return params


def _rawurlencode(value):
    return quote(str(value), safe="")


def authenticate(store, method, url_base, path, headers, query, form):
    """AuthResult: user=True (authenticated), or error (a 401 body), or anonymous (neither)."""
    key = secret = None
    auth = headers.get("authorization")
    if query.get("consumer_key") and query.get("consumer_secret"):
        key, secret = query["consumer_key"], query["consumer_secret"]
    elif _basic(auth):
        key, secret = _basic(auth)
    if key and secret and key in store.keys:
        expected, permissions = store.keys[key]
        if not hmac.compare_digest(expected.encode(), str(secret).encode()):
            return AuthResult(error=_error("Consumer secret is invalid."), method="basic_auth")
        return _check_permissions(method, permissions, "basic_auth")

    params = {k: v for k, v in {**query, **form}.items() if not isinstance(v, list)}
    params.update(_oauth_header(auth))
    present = [name for name in OAUTH_PARAMS if params.get(name)]
    if not present:
        return AuthResult()
    missing = [name for name in OAUTH_PARAMS if not params.get(name)]
    if missing:
        noun = "parameters" if len(missing) > 1 else "parameter"
        return AuthResult(error=_error(f"Missing OAuth {noun} {', '.join(missing)}",
                                       "woocommerce_rest_authentication_missing_parameter"), method="oauth1")
    entry = store.keys.get(params["oauth_consumer_key"])
    if entry is None:
        return AuthResult(error=_error("Consumer key is invalid."), method="oauth1")
    problem = _check_signature(method, f"{url_base}{path}", params, entry[0])
    if problem is None:
        problem = _check_timestamp_and_nonce(store, params)
    if problem:
        return AuthResult(error=_error(problem), method="oauth1")
    return _check_permissions(method, entry[1], "oauth1")


def _check_signature(method, url, params, consumer_secret):
    given = unquote(params["oauth_signature"].replace(" ", "+"))
    signed = {k: v for k, v in params.items() if k != "oauth_signature"}
    pairs = [(_rawurlencode(k), _rawurlencode(v)) for k, v in sorted(signed.items())]
    query_string = "%26".join(_rawurlencode(f"{k}={v}") for k, v in pairs)
    string_to_sign = f"{method}&{_rawurlencode(url)}&{query_string}"
    algorithm = params["oauth_signature_method"]
    if algorithm not in ("HMAC-SHA1", "HMAC-SHA256"):
        return "Invalid signature - signature method is invalid."
    digest = hashlib.sha1 if algorithm == "HMAC-SHA1" else hashlib.sha256
    mac = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), digest).digest()
    if not hmac.compare_digest(base64.b64encode(mac).decode(), given):
        return "Invalid signature - provided signature does not match."
    return None


def _check_timestamp_and_nonce(store, params):
    try:
        stamp = int(params["oauth_timestamp"])
    except ValueError:
        return "Invalid timestamp."
    now = int(time.time())  # clients sign with real time, whatever the store's clock says
    if stamp < now - WINDOW or stamp > now + WINDOW:
        return "Invalid timestamp."
    with store.lock:
        used = store.oauth_nonces.setdefault(params["oauth_consumer_key"], {})
        if params["oauth_nonce"] in used.values():
            return "Invalid nonce - nonce has already been used."
        used[stamp] = params["oauth_nonce"]  # keyed by timestamp, as WooCommerce stores them
        for old in [t for t in used if t < now - WINDOW]:
            del used[old]
    return None


def _check_permissions(method, permissions, how):
    if method in _WRITE and permissions not in ("write", "read_write"):
        return AuthResult(error=_error("The API key provided does not have write permissions."), method=how)
    if method not in _WRITE and permissions not in ("read", "read_write"):
        return AuthResult(error=_error("The API key provided does not have read permissions."), method=how)
    return AuthResult(user=True, method=how)


_FORBIDDEN = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
}


def forbidden(action):
    """The endpoint's own permission answer to an anonymous request (list/view/create/edit/delete)."""
    code, message = _FORBIDDEN[action]
    return {"code": code, "message": message, "data": {"status": 401}}
