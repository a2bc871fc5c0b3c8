"""Webhook registry and event queue (mixed into SandboxStore).

As WooCommerce does it: an event queues one delivery per *active* webhook of that topic; while a
delivery for the same (webhook, resource) is still queued, further events are folded into it
(wc_webhook_process_delivery schedules each pair once); the payload is built when the delivery
runs (async delivery), so it shows the resource as it is *then*. Failed deliveries are not
retried. `failure_count` is kept like WC_Webhook: reset by a 2xx/301/302, and the webhook is
disabled by a failure that finds it already above max_delivery_failures.
"""

import hashlib
from collections import deque

from .common import iso, php_json
from .lifecycle import stamp

TOPIC_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order", "woocommerce_delete_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "product.created": ["woocommerce_new_product"], "product.updated": ["woocommerce_update_product"],
    "product.deleted": ["wp_trash_post"], "product.restored": ["untrashed_post"],
    "coupon.created": ["woocommerce_new_coupon"], "coupon.updated": ["woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"], "coupon.restored": ["untrashed_post"],
}
WEBHOOK_STATUSES = ("active", "paused", "disabled")
_PUBLIC = ("id", "name", "status", "topic", "resource", "event", "hooks", "delivery_url",
           "date_created", "date_created_gmt", "date_modified", "date_modified_gmt")


def valid_topic(topic):
    return isinstance(topic, str) and (topic in TOPIC_HOOKS or (topic.startswith("action.") and len(topic) > 7))


class WebhookMixin:
    def _init_webhooks(self):
        self.webhooks = {}
        self._webhook_id = 0
        self.pending = []  # queued deliveries: {"webhook_id", "topic", "resource_id", "queued_at", "seq"}
        self._pending_keys = set()
        self.deliveries = deque(maxlen=5000)  # every attempt, see delivery.deliver_pending
        self.pings = deque(maxlen=5000)
        self._event_seq = 0

    def emit(self, topic, resource_id):
        """Record an event and queue it for every active webhook on that topic."""
        with self.lock:
            self._event_seq += 1
            at = iso(self.clock.now())
            self.events.append({"seq": self._event_seq, "topic": topic, "resource_id": resource_id, "at": at})
            for wh in self.webhooks.values():
                if wh["status"] != "active" or wh["topic"] != topic:
                    continue
                key = (wh["id"], resource_id)
                if self.coalesce_deliveries and key in self._pending_keys:
                    continue
                self._pending_keys.add(key)
                self.pending.append({"webhook_id": wh["id"], "topic": topic, "resource_id": resource_id,
                                     "queued_at": at, "seq": self._event_seq})

    def create_webhook(self, topic, delivery_url, secret=None, name=None, status="active", ping=True):
        """Register a webhook (as POST /webhooks does) and send WooCommerce's ping first.

        Returns the webhook as the REST API shows it. The ping's outcome does not stop creation,
        as in WC_REST_Webhooks_Controller::create_item; see store.pings for what happened.
        """
        if not valid_topic(topic):
            raise ValueError("Webhook topic is required and must be valid.")
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"status is not one of {', '.join(WEBHOOK_STATUSES)}.")
        with self.lock:
            self._webhook_id += 1
            now = self.clock.now()
            resource, _, event = topic.partition(".")
            wh = {"id": self._webhook_id,
                  "name": name or "Webhook created on " + (now + self.utc_offset).strftime("%b %d, %Y @ %I:%M %p"),
                  "status": status, "topic": topic, "resource": resource, "event": event,
                  "hooks": list(TOPIC_HOOKS.get(topic, [event])), "delivery_url": delivery_url,
                  # WooCommerce's default secret when none is given: a hash of the API user.
                  "secret": secret if secret else hashlib.md5(b"1|admin").hexdigest(),
                  "failure_count": 0, "pending_delivery": True, "api_version": 3}
            stamp(wh, "date_created", now, self.utc_offset)
            stamp(wh, "date_modified", now, self.utc_offset)
            self.webhooks[wh["id"]] = wh
        if ping:
            from .delivery import send_ping
            send_ping(self, wh)
        return self.get_webhook(wh["id"])

    def update_webhook(self, webhook_id, **fields):
        """PUT /webhooks/<id>: name, status, topic, delivery_url, secret. Re-activating does not
        reset failure_count (WC_Webhook::set_status does not either)."""
        with self.lock:
            wh = self.webhooks[webhook_id]
            if "topic" in fields:
                if not valid_topic(fields["topic"]):
                    raise ValueError("Webhook topic is required and must be valid.")
                wh["resource"], _, wh["event"] = fields["topic"].partition(".")
                wh["hooks"] = list(TOPIC_HOOKS.get(fields["topic"], [wh["event"]]))
            if "status" in fields and fields["status"] not in WEBHOOK_STATUSES:
                raise ValueError(f"status is not one of {', '.join(WEBHOOK_STATUSES)}.")
            for key in ("name", "status", "topic", "delivery_url", "secret"):
                if key in fields and fields[key] is not None:
                    wh[key] = fields[key]
            stamp(wh, "date_modified", self.clock.now(), self.utc_offset)
            self.version += 1
            return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id):
        with self.lock:
            wh = self.get_webhook(webhook_id)
            del self.webhooks[webhook_id]
            self.version += 1
            return wh

    def webhook_view(self, webhook_id):
        wh = self.webhooks[webhook_id]
        view = {k: wh[k] for k in _PUBLIC}
        view["_links"] = {"self": [{"href": f"{self.api_url}/webhooks/{webhook_id}"}],
                          "collection": [{"href": f"{self.api_url}/webhooks"}]}
        return view

    def webhook_json(self, webhook_id):
        return php_json(self.webhook_view(webhook_id))

    def get_webhook(self, webhook_id):
        """The webhook as GET /webhooks/<id> shows it, or None."""
        with self.lock:
            return self.webhook_view(webhook_id) if webhook_id in self.webhooks else None

    def webhook_state(self, webhook_id):
        """Internal fields the API does not show: failure_count, pending_delivery, secret."""
        with self.lock:
            wh = self.webhooks[webhook_id]
            return {k: wh[k] for k in ("status", "failure_count", "pending_delivery", "secret")}

    def record_delivery_outcome(self, wh, status):
        """WC_Webhook::log_delivery failure tracking (call with the lock held)."""
        if status is not None and 200 <= status < 303:
            wh["failure_count"] = 0
        elif wh["failure_count"] > self.max_delivery_failures:
            if wh["status"] != "disabled":
                wh["status"] = "disabled"
                stamp(wh, "date_modified", self.clock.now(), self.utc_offset)
                self.version += 1
        else:
            wh["failure_count"] += 1

    def deliver_pending(self):
        """Send every queued delivery now, synchronously; returns the attempts (dicts)."""
        from .delivery import deliver_pending
        return deliver_pending(self)

