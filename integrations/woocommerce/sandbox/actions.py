"""Changes to the shop (mixed into SandboxStore): orders, lifecycle actions, customers.

Each public method takes the store lock, changes the dict, and saves through `_save_order` /
`_save_customer`, which bump date_modified(_gmt), reindex and queue the webhook topics.
"""

from datetime import timedelta

from . import lifecycle
from .common import money


class ActionsMixin:
    # -- saving -------------------------------------------------------------------------------
    def _save_order(self, o, *topics):
        """Bump date_modified, reindex, drop cached JSON, queue `topics` (default order.updated)."""
        now = self.clock.now()
        self._unindex(o)
        lifecycle.stamp(o, "date_modified", now, self.utc_offset)
        self._insert(o)
        self._json.pop(o["id"], None)
        self.version += 1
        for topic in topics or ("order.updated",):
            self.emit(topic, o["id"])

    def _save_customer(self, c, topic="customer.updated"):
        lifecycle.stamp(c, "date_modified", self.clock.now(), self.utc_offset)
        self._cjson.pop(c["id"], None)
        self.version += 1
        self.emit(topic, c["id"])

    def create_order(self, *, customer_id=None, email=None, method=None, via="checkout",
                     status=None, initial=True):
        """A new order now (order.created). customer_id picks a registered buyer (0 = guest),
        email a guest identity; `status` forces a status, otherwise the gateway decides
        (BACS/cheque on-hold, COD processing, cards usually paid at once) unless initial=False."""
        with self.lock:
            rng, now = self._sim_rng, self.clock.now()
            if customer_id:
                c = self.customers[customer_id]
                o = self.gen.order(now, dict(c["billing"]), customer_id, method=method, via=via)
            elif customer_id == 0 or email:
                person = self.gen.person()
                person["email"] = email or person["email"]
                o = self.gen.order(now, person, 0, method=method, via=via)
            elif rng.random() < 0.15:  # someone registers at checkout: customer.created, then the order
                c = self.customers[self.create_customer()["id"]]
                o = self.gen.order(now, dict(c["billing"]), c["id"], method=method, via=via)
            else:
                o = self._new_order_dict(rng, now, list(self.customers.values()), method=method, via=via)
            self._insert(o)
            self.version += 1
            self.emit("order.created", o["id"])
            if status:
                self.set_status(o["id"], status)
            elif initial:
                m, r = o["payment_method"], rng.random()
                target = ("on-hold" if m in ("bacs", "cheque") else "processing" if m == "cod"
                          else "processing" if r < 0.8 else "failed" if r < 0.85 else None)
                if target:
                    self.set_status(o["id"], target)
            if o["customer_id"]:
                self._customer_bought(self.customers[o["customer_id"]], o, now, live=True)
            return self.get_order(o["id"])

    def set_status(self, order_id, status):
        """Any status, including plugin ones ("shipped"), as an admin or a plugin would set it."""
        if status == "trash":
            return self.trash(order_id)
        with self.lock:
            o = self.orders[order_id]
            if status not in lifecycle.STATUSES:
                self.extra_statuses.add(status)
            self._unindex(o)
            changed = lifecycle.set_status(o, status, self.clock.now(), self.utc_offset)
            self._insert(o)
            if changed:
                self._save_order(o)
                c = self.customers.get(o["customer_id"])
                if c and status in lifecycle.PAID_STATUSES and not c["is_paying_customer"]:
                    c["is_paying_customer"] = True  # set_is_paying_customer on payment_complete
                    self._save_customer(c)
            return changed

    def apply(self, order_id, action):
        """One lifecycle action by name; returns 1 if something changed, else 0."""
        with self.lock:
            if action == "restore":
                return int(self.restore(order_id))
            if action == "trash":
                return int(self.trash(order_id))
            if action.startswith("refund_"):
                o = self.orders[order_id]
                self._unindex(o)
                done = lifecycle.apply_action(self, o, action, self.clock.now(), self._sim_rng)
                self._insert(o)
                if done:
                    self._save_order(o)
                return int(done)
            return int(self.set_status(order_id, action))

    def pay(self, order_id):
        return self.set_status(order_id, "processing")

    def complete(self, order_id):
        return self.set_status(order_id, "completed")

    def fail(self, order_id):
        return self.set_status(order_id, "failed")

    def cancel(self, order_id):
        return self.set_status(order_id, "cancelled")

    def refund(self, order_id, amount=None, reason=""):
        """Refund `amount` ("10.00", 10, or None for everything left); full → status refunded."""
        with self.lock:
            o = self.orders[order_id]
            left = lifecycle.remaining_cents(o)
            cents = left if amount is None else round(float(amount) * 100)
            self._unindex(o)
            done = lifecycle.add_refund(o, self.next_post_id(), cents, reason, self.clock.now(), self.utc_offset)
            self._insert(o)
            if done:
                self._save_order(o)
            return done

    def trash(self, order_id):
        """Move to trash: status "trash", order.deleted with body {"id": N}."""
        with self.lock:
            o = self.orders[order_id]
            if o["status"] == "trash":
                return False
            self._unindex(o)
            self.trashed_from[order_id] = o["status"]
            o["status"] = "trash"
            self._insert(o)
            self._save_order(o, "order.deleted")
            return True

    def restore(self, order_id):
        """Untrash to the status it had (order.restored)."""
        with self.lock:
            o = self.orders[order_id]
            if o["status"] != "trash":
                return False
            self._unindex(o)
            o["status"] = self.trashed_from.pop(order_id, "pending")
            self._insert(o)
            self._save_order(o, "order.restored")
            return True

    def delete_order(self, order_id):
        """Delete permanently (force=true): gone from the API, order.deleted."""
        with self.lock:
            o = self.orders[order_id]
            self._unindex(o)
            del self.orders[order_id]
            self._json.pop(order_id, None)
            self.version += 1
            self.emit("order.deleted", order_id)

    def update_order(self, order_id, **fields):
        """Merge fields (billing={...} merges into billing) and save (order.updated)."""
        with self.lock:
            o = self.orders[order_id]
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(o.get(key), dict):
                    o[key].update(value)
                elif key != "status":
                    o[key] = value
            self._save_order(o)
            if "status" in fields:
                self.set_status(order_id, fields["status"])
            return self.get_order(order_id)

    def cancel_unpaid(self):
        """wc_cancel_unpaid_orders: pending checkout orders untouched for the hold time."""
        with self.lock:
            limit = (self.clock.now() - timedelta(minutes=self.hold_stock_minutes)).isoformat()
            stale = [i for i in self.modified_range(before=limit)
                     if self.orders[i]["status"] == "pending"
                     and self.orders[i]["created_via"] in lifecycle.CHECKOUT_VIAS]
            for order_id in stale:
                self.set_status(order_id, "cancelled")
            return len(stale)

    def advance(self, steps=1):
        """Move the shop forward `steps` ticks (a frozen clock moves step_seconds per tick)."""
        changes = 0
        for _ in range(steps):
            with self.lock:
                if self.clock.frozen:
                    self.clock.advance(self.step_seconds)
                changes += lifecycle.step(self, self._sim_rng, self.new_orders_per_step, self.activity)
        return changes

    tick = advance

    # -- customers -------------------------------------------------------------------------------
    def create_customer(self, **fields):
        with self.lock:
            person = self.gen.person(fields.pop("country", None), fields.pop("first_name", None),
                                     fields.pop("last_name", None))
            if "email" in fields:
                person["email"] = fields.pop("email")
            c = self.gen.customer(person, self.clock.now())
            c.update(fields)
            self.customers[c["id"]] = c
            self.version += 1
            self.emit("customer.created", c["id"])
            return self.get_customer(c["id"])

    def update_customer(self, customer_id, **fields):
        with self.lock:
            c = self.customers[customer_id]
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(c.get(key), dict):
                    c[key].update(value)
                else:
                    c[key] = value
            self._save_customer(c)
            return self.get_customer(customer_id)

    def delete_customer(self, customer_id):
        with self.lock:
            del self.customers[customer_id]
            self._cjson.pop(customer_id, None)
            self.version += 1
            self.emit("customer.deleted", customer_id)

    def order_total(self, order_id):
        return money(lifecycle.remaining_cents(self.orders[order_id]))
