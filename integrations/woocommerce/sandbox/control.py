"""Webhook writes over REST, the namespace index, and the sandbox's own control endpoints.

Control endpoints (no auth, plain JSON; not part of WooCommerce):
  GET  /__sandbox__                       summary: counts, webhooks with failure counts, faults
  GET|POST /__sandbox__/faults            read / change the fault plan (see faults.Faults.configure)
  POST /__sandbox__/advance  {"steps": n} move the shop forward
  POST /__sandbox__/deliver               send queued webhooks now
  POST /__sandbox__/orders   {"customer_id", "email", "method", "status"}   new order
  POST /__sandbox__/orders/<id>/<action>  pay|complete|fail|cancel|hold|trash|restore|delete|
                                          refund {"amount", "reason"}|status {"status"}
  GET  /__sandbox__/events?since=N        events (topic, resource id, time) after seq N
  GET  /__sandbox__/deliveries            recent delivery attempts (bodies as text)
"""

import json
import re

from .common import API_PREFIX
from .webhooks import WEBHOOK_STATUSES, valid_topic

_BAD_TOPIC = {"code": "woocommerce_rest_webhook_invalid_topic",
              "message": "Webhook topic is required and must be valid.", "data": {"status": 400}}
_BAD_URL = {"code": "woocommerce_rest_webhook_invalid_delivery_url",
            "message": "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            "data": {"status": 400}}
_ORDER_ACTION = re.compile(r"^/__sandbox__/orders/(\d+)/([a-z-]+)/?$")


def index(store):
    routes = {f"/wc/v3/{name}": {"namespace": "wc/v3", "methods": ["GET"] + (["POST"] if name == "webhooks" else [])}
              for name in ("orders", "customers", "webhooks")}
    return {"namespace": "wc/v3", "routes": routes, "_links": {"up": [{"href": store.base_url + "/wp-json/"}]}}


def _status_problem(status):
    if status is not None and status not in WEBHOOK_STATUSES:
        message = "status is not one of active, paused, and disabled."
        return {"code": "rest_invalid_param", "message": "Invalid parameter(s): status",
                "data": {"status": 400, "params": {"status": message},
                         "details": {"status": {"code": "rest_not_in_enum", "message": message, "data": None}}}}
    return None


def create_webhook(store, body, user, forbidden):
    """POST /webhooks → (status, body, headers)."""
    missing = [name for name in ("topic", "delivery_url") if name not in body]
    if missing:
        return 400, {"code": "rest_missing_callback_param", "message": "Missing parameter(s): " + ", ".join(missing),
                     "data": {"status": 400, "params": missing}}, {}
    problem = _status_problem(body.get("status"))
    if problem:
        return 400, problem, {}
    if not user:
        return 401, forbidden("create"), {}
    if not valid_topic(body["topic"]):
        return 400, _BAD_TOPIC, {}
    if not str(body["delivery_url"]).startswith(("http://", "https://")):
        return 400, _BAD_URL, {}
    # Call without the store lock held: the ping goes out over HTTP.
    hook = store.create_webhook(body["topic"], body["delivery_url"], body.get("secret"),
                                body.get("name"), body.get("status") or "active")
    return 201, hook, {"Location": f"{store.api_url}/webhooks/{hook['id']}"}


def change_webhook(store, webhook_id, method, body, user, forbidden):
    """PUT/PATCH/POST /webhooks/<id> (edit) and DELETE /webhooks/<id>?force=true."""
    if not user:
        return 401, forbidden("delete" if method == "DELETE" else "edit"), {}
    if webhook_id not in store.webhooks:
        return 400, {"code": "woocommerce_rest_shop_webhook_invalid_id", "message": "ID is invalid.",
                     "data": {"status": 400}}, {}
    if method == "DELETE":
        if str(body.get("force", "")).lower() not in ("true", "1"):
            return 501, {"code": "woocommerce_rest_trash_not_supported",
                         "message": "Webhooks do not support trashing.", "data": {"status": 501}}, {}
        return 200, store.delete_webhook(webhook_id), {}
    problem = _status_problem(body.get("status"))
    if problem:
        return 400, problem, {}
    if "topic" in body and not valid_topic(body["topic"]):
        return 400, _BAD_TOPIC, {}
    fields = {k: body[k] for k in ("name", "status", "topic", "delivery_url", "secret") if k in body}
    return 200, store.update_webhook(webhook_id, **fields), {}


def handle(store, method, path, params, raw):
    """The /__sandbox__ endpoints; returns (status, JSON-able body)."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return 400, {"error": "body must be JSON"}
    path = path.rstrip("/") or "/"
    if path == "/__sandbox__":
        return 200, summary(store)
    if path == "/__sandbox__/faults":
        if method == "POST":
            store.faults.configure(data)
        return 200, store.faults.snapshot()
    if path == "/__sandbox__/advance" and method == "POST":
        return 200, {"changes": store.advance(int(data.get("steps", 1)))}
    if path == "/__sandbox__/deliver" and method == "POST":
        return 200, [_public_attempt(r) for r in store.deliver_pending()]
    if path == "/__sandbox__/orders" and method == "POST":
        kwargs = {k: data[k] for k in ("customer_id", "email", "method", "via", "status") if k in data}
        return 201, store.create_order(**kwargs)
    if path == "/__sandbox__/events":
        since = int(params.get("since", 0) or 0)
        with store.lock:
            return 200, [e for e in store.events if e["seq"] > since]
    if path == "/__sandbox__/deliveries":
        with store.lock:
            return 200, [_public_attempt(r) for r in store.deliveries]
    match = _ORDER_ACTION.match(path)
    if match and method == "POST":
        return _order_action(store, int(match.group(1)), match.group(2), data)
    return 404, {"error": f"no sandbox endpoint {method} {path}"}


def _order_action(store, order_id, action, data):
    if order_id not in store.orders:
        return 404, {"error": f"no order {order_id}"}
    simple = {"pay": store.pay, "complete": store.complete, "fail": store.fail, "cancel": store.cancel,
              "trash": store.trash, "restore": store.restore}
    if action in simple:
        changed = simple[action](order_id)
    elif action == "hold":
        changed = store.set_status(order_id, "on-hold")
    elif action == "status":
        changed = store.set_status(order_id, data["status"])
    elif action == "refund":
        changed = store.refund(order_id, data.get("amount"), data.get("reason", ""))
    elif action == "delete":
        store.delete_order(order_id)
        return 200, {"deleted": order_id}
    else:
        return 404, {"error": f"unknown action {action}"}
    return 200, {"changed": bool(changed), "order": store.get_order(order_id)}


def summary(store):
    with store.lock:
        by_status = {}
        for o in store.orders.values():
            by_status[o["status"]] = by_status.get(o["status"], 0) + 1
        return {"url": store.base_url, "api": store.base_url + API_PREFIX, "orders": len(store.orders),
                "orders_by_status": by_status, "customers": len(store.customers),
                "webhooks": [{**store.webhook_view(i), **store.webhook_state(i), "secret": None}
                             for i in store.webhooks],
                "pending_deliveries": len(store.pending), "version": store.version,
                "clock": store.clock.now().isoformat(), "faults": store.faults.snapshot()}


def _public_attempt(result):
    return {**result, "body": result["body"].decode("ascii", "replace"),
            "response": result.get("response", b"").decode("utf-8", "replace")}
