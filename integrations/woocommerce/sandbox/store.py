"""The fake store's state: customers, orders, webhooks, indexes, JSON cache and the event queue.

Every change goes through `_save_order` / `_save_customer`: it bumps date_modified(_gmt) to the
clock, keeps the date_modified index sorted, drops the cached JSON and queues webhook deliveries.
One RLock guards everything; the HTTP threads, the ticker and test code all take it.
"""

import bisect
import hashlib
import random
import threading
from collections import deque
from datetime import timedelta

from . import lifecycle
from .common import API_PREFIX, Clock, php_json
from .faults import Faults
from .generator import Generator
from .people import FIXED_PEOPLE
from .actions import ActionsMixin
from .runtime import RuntimeMixin
from .webhooks import WebhookMixin

MAX_LOG = 5000  # events / deliveries / requests kept for inspection; older ones fall off


class SandboxStore(ActionsMixin, RuntimeMixin, WebhookMixin):
    def __init__(self, *, seed=0, orders=200, customers=None, consumer_key="ck_sandbox",
                 consumer_secret="cs_sandbox", key_permissions="read_write", now=None,
                 history_days=90, utc_offset_minutes=-180, currency="USD", faults=None,
                 max_delivery_failures=5, hold_stock_minutes=60, duplicate_rate=0.0,
                 reorder_rate=0.0, coalesce_deliveries=True, delivery_timeout=10.0,
                 new_orders_per_step=2.0, activity=0.05, step_seconds=60):
        self.lock = threading.RLock()
        self.clock = Clock(now)
        self.utc_offset = timedelta(minutes=utc_offset_minutes)  # site timezone, like the fixtures' -03:00
        self.currency = currency
        self.keys = {consumer_key: (consumer_secret, key_permissions)}
        self.faults = Faults(faults)
        self.max_delivery_failures = max_delivery_failures
        self.hold_stock_minutes = hold_stock_minutes
        self.duplicate_rate, self.reorder_rate = duplicate_rate, reorder_rate
        self.coalesce_deliveries, self.delivery_timeout = coalesce_deliveries, delivery_timeout
        self.new_orders_per_step, self.activity, self.step_seconds = new_orders_per_step, activity, step_seconds
        self.base_url = "http://127.0.0.1"
        self.salt = hashlib.sha256(f"wp-salt-{seed}".encode()).hexdigest()
        self.orders, self.customers, self.trashed_from = {}, {}, {}
        self.extra_statuses = set()  # plugin statuses set via set_status(), e.g. "shipped"
        self.events = deque(maxlen=MAX_LOG)
        self.requests = deque(maxlen=MAX_LOG)
        self.version = 0  # bumped by every change; list queries cache per version
        self._json, self._cjson, self.query_cache = {}, {}, {}
        self._mod_index = []  # sorted (date_modified_gmt, id) of all orders
        self._by_status = {}
        self._post_id, self._item_id, self._meta_id, self._user_id = 700, 300, 13000, 1
        self._gen_rng = random.Random(f"gen-{seed}")
        self._sim_rng = random.Random(f"sim-{seed}")
        self.delivery_rng = random.Random(f"delivery-{seed}")
        self.gen = Generator(self, self._gen_rng)
        self._guests = []
        self._init_webhooks()
        self._init_runtime()
        self._populate(orders, customers if customers is not None else max(len(FIXED_PEOPLE), orders // 4),
                       history_days)

    # -- ids (WordPress post ids are shared by orders and refunds, with gaps) ------------------
    def next_post_id(self):
        self._post_id += 1 + self._gen_rng.randrange(3)
        return self._post_id

    def next_item_id(self):
        self._item_id += 1
        return self._item_id

    def next_meta_id(self):
        self._meta_id += 1
        return self._meta_id

    def next_user_id(self):
        self._user_id += 1 + self._gen_rng.randrange(2)
        return self._user_id

    # -- generation ----------------------------------------------------------------------------
    def _populate(self, n_orders, n_customers, history_days):
        gen, rng, now = self.gen, self._gen_rng, self.clock.now()
        start = now - timedelta(days=history_days)
        cust_times = gen.timeline(n_customers, start - timedelta(days=365), now - timedelta(days=1))
        for i, t in enumerate(cust_times):
            person = gen.person(FIXED_PEOPLE[i][2], *FIXED_PEOPLE[i][:2]) if i < len(FIXED_PEOPLE) else gen.person()
            c = gen.customer(person, t)
            self.customers[c["id"]] = c
        registered = list(self.customers.values())
        for t in gen.timeline(n_orders, start, now - timedelta(minutes=2)):
            o = self._new_order_dict(rng, t, registered, bisect.bisect_right(cust_times, t))
            last = t
            for when, action in lifecycle.plan_history(rng, o, t, now):
                if lifecycle.apply_action(self, o, action, when, rng):
                    last = when
            lifecycle.stamp(o, "date_modified", last, self.utc_offset)
            self._insert(o)
            if o["customer_id"]:
                self._customer_bought(self.customers[o["customer_id"]], o, last)

    def _new_order_dict(self, rng, when, registered, eligible=None, **kw):
        """Pick a buyer the way a real shop's mix looks (registered[:eligible] existed by then),
        then build a pending order."""
        eligible = len(registered) if eligible is None else eligible
        r = rng.random()
        if r < 0.6 and eligible:
            c = registered[rng.randrange(eligible)]
            person = dict(c["billing"])
            ship_to = self.gen.person() if rng.random() < 0.08 else None
            return self.gen.order(when, person, c["id"], ship_to=ship_to, **kw)
        if r < 0.7 and eligible:  # a guest checkout with a registered customer's email
            person = dict(registered[rng.randrange(eligible)]["billing"])
            if rng.random() < 0.3:
                person["email"] = person["email"].title()
        elif r < 0.8 and self._guests:
            person = rng.choice(self._guests)
        else:
            person = self.gen.person()
            self._guests.append(person)
        return self.gen.order(when, person, 0, **kw)

    def _customer_bought(self, c, order, when, live=False):
        """Checkout saves the customer (billing fields, paying flag): customer.updated when live."""
        if order["status"] in lifecycle.PAID_STATUSES or order["date_paid_gmt"]:
            c["is_paying_customer"] = True
        if live:
            self._save_customer(c)
        elif when.isoformat() > c["date_modified_gmt"]:
            lifecycle.stamp(c, "date_modified", when, self.utc_offset)
            self._cjson.pop(c["id"], None)

    # -- indexes and serialisation ------------------------------------------------------------
    def _insert(self, o):
        self.orders[o["id"]] = o
        bisect.insort(self._mod_index, (o["date_modified_gmt"], o["id"]))
        self._by_status.setdefault(o["status"], set()).add(o["id"])

    def _unindex(self, o):
        key = (o["date_modified_gmt"], o["id"])
        i = bisect.bisect_left(self._mod_index, key)
        if i < len(self._mod_index) and self._mod_index[i] == key:
            del self._mod_index[i]
        self._by_status.get(o["status"], set()).discard(o["id"])

    def modified_range(self, after=None, before=None):
        """Order ids with after < date_modified_gmt < before (strings), oldest first."""
        lo = bisect.bisect_right(self._mod_index, (after, float("inf"))) if after else 0
        hi = bisect.bisect_left(self._mod_index, (before, -1)) if before else len(self._mod_index)
        return [i for _, i in self._mod_index[lo:hi]]

    def order_ids_with_status(self, status):
        with self.lock:
            return sorted(self._by_status.get(status, ()))

    def order_json(self, order_id):
        data = self._json.get(order_id)
        if data is None:
            o = self.orders[order_id]
            links = {"self": [{"href": f"{self.api_url}/orders/{order_id}"}],
                     "collection": [{"href": f"{self.api_url}/orders"}]}
            if o["customer_id"]:
                links["customer"] = [{"href": f"{self.api_url}/customers/{o['customer_id']}"}]
            data = self._json[order_id] = php_json({**o, "_links": links})
        return data

    def customer_json(self, customer_id):
        data = self._cjson.get(customer_id)
        if data is None:
            links = {"self": [{"href": f"{self.api_url}/customers/{customer_id}"}],
                     "collection": [{"href": f"{self.api_url}/customers"}]}
            data = self._cjson[customer_id] = php_json({**self.customers[customer_id], "_links": links})
        return data

    @property
    def api_url(self):
        return self.base_url + API_PREFIX

    def set_base_url(self, url):
        with self.lock:
            self.base_url = url.rstrip("/")
            self._json.clear()
            self._cjson.clear()

    # -- reads for tests -------------------------------------------------------------------------
    def get_order(self, order_id):
        """The order as GET /orders/<id> returns it (a fresh dict), or None."""
        import json
        with self.lock:
            return json.loads(self.order_json(order_id)) if order_id in self.orders else None

    def get_customer(self, customer_id):
        import json
        with self.lock:
            return json.loads(self.customer_json(customer_id)) if customer_id in self.customers else None
