"""Deterministic people, customers and orders in the exact shape of WooCommerce's REST v3 examples.

Key order and value types follow fixtures/woocommerce/order_retrieve_response.json and
customers_list_response.json (totals are strings with two decimals, line "price" is a number,
customer_id is 0 for guests). `_links` is added when serialising, since it carries the store URL.
"""

import bisect
import hashlib
import string
from datetime import timedelta
from itertools import accumulate

from .common import money, trimmed
from .lifecycle import stamp
from .people import (EMAIL_DOMAINS, LOCALES, NOTES, PAYMENT_METHODS, PRODUCTS, SHIPPING, TAXES,
                     USER_AGENTS, ascii_fold, fill)

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits
_COUNTRIES = list(LOCALES)
_COUNTRY_CUM = list(accumulate(LOCALES[c][0] for c in _COUNTRIES))
_METHODS = list(PAYMENT_METHODS)
_METHOD_CUM = list(accumulate(PAYMENT_METHODS[m][1] for m in _METHODS))
_VIAS, _VIA_CUM = ["checkout", "store-api", "admin", "rest-api"], [70, 90, 97, 100]
_ITEM_COUNTS, _ITEM_CUM = [1, 2, 3, 4], [40, 75, 92, 100]
_QTYS, _QTY_CUM = [1, 2, 3], [75, 95, 100]
_LINE_CACHE = {}


class Generator:
    def __init__(self, store, rng):
        self.store, self.rng = store, rng
        self.usernames, self.emails = set(), set()

    # -- people -------------------------------------------------------------------------------
    def person(self, country=None, first=None, last=None):
        rng = self.rng
        country = country or _pick(rng, _COUNTRIES, _COUNTRY_CUM)
        _, firsts, lasts, places, streets, phone = LOCALES[country]
        first, last = first or rng.choice(firsts), last or rng.choice(lasts)
        city, state, postcode = rng.choice(places)
        street, n = rng.choice(streets), rng.randint(1, 240)
        if country == "JP":
            address_1 = f"{street}{rng.randint(1, 4)}-{rng.randint(1, 20)}-{rng.randint(1, 30)}"
        elif country in ("US", "GB"):
            address_1 = f"{n} {street}"
        else:
            address_1 = f"{street}, {n}" if country == "BR" else f"{street} {n}"
        extra = rng.random()
        address_2 = "Apt 4/2" if extra < 0.08 else ("c/o Reception" if extra < 0.12 else "")
        company = rng.choice(["Acme GmbH", "Café Lumière SARL", "Kowalski & Syn"]) if rng.random() < 0.07 else ""
        local = f"{ascii_fold(first)}.{ascii_fold(last)}"
        if rng.random() < 0.4:
            local += str(rng.randint(1, 99))
        return {"first_name": first, "last_name": last, "company": company, "address_1": address_1,
                "address_2": address_2, "city": city, "state": state, "postcode": postcode,
                "country": country, "email": f"{local}@{rng.choice(EMAIL_DOMAINS)}",
                "phone": fill(phone, rng)}

    @staticmethod
    def billing(p):
        return dict(p)

    @staticmethod
    def shipping(p):
        return {k: p[k] for k in ("first_name", "last_name", "company", "address_1", "address_2",
                                  "city", "state", "postcode", "country")}

    def customer(self, person, created):
        """A registered customer (WP user with role "customer"); emails and usernames are unique."""
        email = person["email"]
        while email in self.emails:
            local, _, domain = email.partition("@")
            email = f"{local}{self.rng.randint(1, 999)}@{domain}"
        person = dict(person, email=email)
        username = base = email.partition("@")[0]
        while username in self.usernames:
            username = f"{base}{self.rng.randint(1, 999)}"
        self.emails.add(email)
        self.usernames.add(username)
        offset = self.store.utc_offset
        c = {"id": self.store.next_user_id()}
        stamp(c, "date_created", created, offset)
        stamp(c, "date_modified", created, offset)
        avatar = hashlib.md5(email.lower().encode()).hexdigest()
        c.update({"email": email, "first_name": person["first_name"], "last_name": person["last_name"],
                  "role": "customer", "username": username, "billing": self.billing(person),
                  "shipping": self.shipping(person), "is_paying_customer": False,
                  "avatar_url": f"https://secure.gravatar.com/avatar/{avatar}?s=96", "meta_data": []})
        return c

    # -- orders -------------------------------------------------------------------------------
    def order(self, created, person, customer_id=0, method=None, via=None, ship_to=None):
        """A fresh order in "pending", as checkout creates it before the gateway runs."""
        rng, store = self.rng, self.store
        method = method or _pick(rng, _METHODS, _METHOD_CUM)
        via = via or _pick(rng, _VIAS, _VIA_CUM)
        destination = ship_to or person
        country = destination["country"]
        tax = TAXES.get(country)
        coupon = rng.random() < 0.1
        order_id = store.next_post_id()
        items, cart_tax, discount, discount_tax, subtotal_sum = [], 0, 0, 0, 0
        for product in rng.sample(PRODUCTS, _pick(rng, _ITEM_COUNTS, _ITEM_CUM)):
            item, (sub, tot, sub_tax, tot_tax) = self._line_item(product, _pick(rng, _QTYS, _QTY_CUM), tax, coupon)
            items.append(item)
            subtotal_sum += tot
            cart_tax += tot_tax
            discount += sub - tot
            discount_tax += sub_tax - tot_tax
        title, method_id, ship_cents = rng.choice(SHIPPING)
        fees = []
        if method == "cod" and rng.random() < 0.3:
            fees.append({"id": store.next_item_id(), "name": "Cash on delivery fee", "tax_class": "",
                         "tax_status": "none", "total": "2.00", "total_tax": "0.00", "taxes": [],
                         "meta_data": []})
        total = subtotal_sum + cart_tax + ship_cents + 200 * len(fees)
        checkout = via in ("checkout", "store-api")
        key = "".join(rng.choices(_ALNUM, k=13))
        o = {"id": order_id, "parent_id": 0, "number": str(order_id), "order_key": f"wc_order_{key}",
             "created_via": via, "version": "9.8.5", "status": "pending",
             "currency": store.currency}
        stamp(o, "date_created", created, store.utc_offset)
        o["date_modified"], o["date_modified_gmt"] = o["date_created"], o["date_created_gmt"]
        o.update({
            "discount_total": money(discount), "discount_tax": money(discount_tax),
            "shipping_total": money(ship_cents), "shipping_tax": "0.00", "cart_tax": money(cart_tax),
            "total": money(total), "total_tax": money(cart_tax), "prices_include_tax": False,
            "customer_id": customer_id,
            "customer_ip_address": f"203.0.113.{rng.randint(1, 254)}" if checkout else "",
            "customer_user_agent": rng.choice(USER_AGENTS) if checkout else "",
            "customer_note": rng.choice(NOTES) if checkout else "",
            "billing": self.billing(person), "shipping": self.shipping(ship_to or person),
            "payment_method": method, "payment_method_title": PAYMENT_METHODS[method][0],
            "transaction_id": _transaction_id(rng, method),
            "date_paid": None, "date_paid_gmt": None, "date_completed": None, "date_completed_gmt": None,
            "cart_hash": hashlib.md5(key.encode()).hexdigest() if checkout else "",
            "meta_data": [
                {"id": store.next_meta_id(), "key": "is_vat_exempt", "value": "no"},
                {"id": store.next_meta_id(), "key": "_wc_order_attribution_source_type",
                 "value": rng.choice(["typein", "organic", "referral", "utm"])}],
            "line_items": items,
            "tax_lines": [] if not tax or not cart_tax else [{
                "id": store.next_item_id(), "rate_code": tax[2].format(state=destination["state"] or "XX"),
                "rate_id": tax[0], "label": tax[3], "compound": False, "tax_total": money(cart_tax),
                "shipping_tax_total": "0.00", "meta_data": []}],
            "shipping_lines": [{"id": store.next_item_id(), "method_title": title, "method_id": method_id,
                                "total": money(ship_cents), "total_tax": "0.00", "taxes": [],
                                "meta_data": []}],
            "fee_lines": fees,
            "coupon_lines": [] if not coupon else [{
                "id": store.next_item_id(), "code": "welcome10", "discount": money(discount),
                "discount_tax": money(discount_tax), "meta_data": []}],
            "refunds": []})
        return o

    def _line_item(self, product, qty, tax, coupon):
        """(line item dict, (subtotal, total, subtotal tax, total tax) in cents). The money strings
        depend only on (product, qty, tax, coupon), so they are computed once and reused."""
        key = (product[0], product[1], qty, tax, coupon)
        cached = _LINE_CACHE.get(key)
        if cached is None:
            product_id, variation_id, name, sku, price, meta = product
            subtotal = price * qty
            total = subtotal - (subtotal // 10 if coupon else 0)
            rate = tax[1] if tax else 0
            sub_tax, tot_tax = (subtotal * rate + 5000) // 10000, (total * rate + 5000) // 10000
            unit = total / qty / 100
            strings = (name, product_id, variation_id, money(subtotal), money(sub_tax), money(total),
                       money(tot_tax), (tax[0], trimmed(tot_tax), trimmed(sub_tax)) if rate else None, meta,
                       sku, int(unit) if unit == int(unit) else round(unit, 6))
            cached = _LINE_CACHE[key] = (strings, (subtotal, total, sub_tax, tot_tax))
        (name, product_id, variation_id, subtotal, sub_tax, total, tot_tax, taxes, meta, sku, price), cents = cached
        store = self.store
        return {"id": store.next_item_id(), "name": name, "product_id": product_id,
                "variation_id": variation_id, "quantity": qty, "tax_class": "",
                "subtotal": subtotal, "subtotal_tax": sub_tax, "total": total, "total_tax": tot_tax,
                "taxes": [{"id": taxes[0], "total": taxes[1], "subtotal": taxes[2]}] if taxes else [],
                "meta_data": [{"id": store.next_meta_id(), "key": k, "value": v} for k, v in meta],
                "sku": sku, "price": price}, cents

    # -- history ------------------------------------------------------------------------------
    def timeline(self, count, start, end):
        """`count` creation times from start to end, increasing (post ids follow creation)."""
        span = (end - start).total_seconds()
        points = sorted(self.rng.random() for _ in range(count))
        return [start + timedelta(seconds=int(p * span)) for p in points]


def _transaction_id(rng, method):
    if method == "stripe":
        return "pi_" + "".join(rng.choices(_ALNUM, k=24))
    if method == "ppcp-gateway":
        return "".join(rng.choices(_UPPER, k=17))
    return ""


def _pick(rng, items, cum):
    """rng.choices(items, cum_weights=cum)[0] without its per-call overhead (same stream use)."""
    return items[bisect.bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]

