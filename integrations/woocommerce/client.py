"""One client for a store's WooCommerce REST API (v3): pages of orders, webhooks, retries, errors.

Wraps the official `woocommerce` client, which signs requests (OAuth 1.0a over http; Basic, or the
keys as query parameters with query_string_auth, over https) but has no paging and no retries.
Dates go out as naive UTC with dates_are_gmt=true: WordPress converts a value carrying "Z" or an
offset into the *site* timezone before comparing it with the GMT column.
"""

import email.utils
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from woocommerce import API

# The library's 5 s default is too short for 100 full orders from a slow shared host.
TIMEOUT = 30
# WooCommerce's maximum page size: the fewest round trips.
PER_PAGE = 100
# A first try and five retries: backoff waits 1+2+4+8+16 = 31 s in all, enough to ride out a rate
# limit window or a PHP-FPM restart; a longer outage is the next scheduled run's to retry.
MAX_TRIES = 6
BACKOFF_BASE = 1.0
# A longer Retry-After is honoured by the next scheduled run, not by a worker blocked in sleep.
MAX_WAIT = 60.0
_TAGS = re.compile(r"<[^>]+>")
# requests' connection errors quote the URL, which carries the keys with query_string_auth.
_CREDENTIALS = re.compile(r"((?:consumer_key|consumer_secret|oauth_signature)=)[^&\s'\"]+")


class StoreError(Exception):
    """The store could not be read; the message is for the operator who has to fix it."""


class StoreAuthError(StoreError):
    """401: the keys were refused, or never reached WordPress."""


class StoreRequestError(StoreError):
    """A 4xx other than 401, or an answer that is not the JSON asked for; retrying will not help."""

    def __init__(self, message, *, status=None, code=""):
        super().__init__(message)
        self.status, self.code = status, code


class StoreUnavailable(StoreError):
    """429, 5xx or no connection, still so after every retry."""


@dataclass(frozen=True)
class OrderPage:
    number: int
    total_pages: int  # X-WP-TotalPages of this query, read from every answer: live data moves
    total: int  # X-WP-Total
    orders: list


def wc_datetime(value):
    """A datetime as WooCommerce wants it with dates_are_gmt=true: naive UTC, whole seconds."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


class StoreClient:
    """`sleep` is injectable so tests of the retry path do not wait; `http_seconds` adds up the time
    spent waiting for the store (retries' sleeps included), which the benchmark reports apart."""

    def __init__(self, store, *, timeout=TIMEOUT, sleep=time.sleep, max_tries=MAX_TRIES):
        self.store = store
        self.api = API(url=store.base_url, consumer_key=store.consumer_key, consumer_secret=store.consumer_secret,
                       version="wc/v3", timeout=timeout, query_string_auth=store.query_string_auth)
        self.sleep, self.max_tries = sleep, max_tries
        self.requests = self.retries = 0
        self.http_seconds = 0.0

    # -- resources -------------------------------------------------------------------------------
    def order_page(self, *, modified_after=None, page=1):
        """One page of orders, oldest modification first."""
        params = {"per_page": PER_PAGE, "page": page, "orderby": "modified", "order": "asc",
                  "dates_are_gmt": "true"}
        if modified_after is not None:
            params["modified_after"] = wc_datetime(modified_after)
        response, orders = self._get("orders", params)
        total_pages = _int_header(response, "X-WP-TotalPages")
        if total_pages is None:
            # Some proxies drop custom headers: then a full page means there may be another.
            total_pages = page + 1 if len(orders) == PER_PAGE else page
        return OrderPage(number=page, total_pages=total_pages, total=_int_header(response, "X-WP-Total") or 0,
                         orders=orders)

    def order_status(self, order_id):
        """The shop's status for one order ("trash" for an order in the trash), or None when the shop
        no longer has it (deleted for good: 404)."""
        try:
            _, order = self._get(f"orders/{int(order_id)}", {}, expect=dict)
        except StoreRequestError as error:
            if error.status == 404:
                return None
            raise
        return str(order.get("status") or "")

    def iter_order_pages(self, modified_after=None, start_page=1):
        """(page_number, total_pages, orders) for every page of one query, from `start_page`.

        Offset paging over live data: an order modified meanwhile moves to the end and shifts the
        rest back by one, so a row can be skipped at a page boundary. The backfill therefore asks
        order_page() for page 1 from a moving date instead; this suits one-off reads.
        """
        page = start_page
        while True:
            result = self.order_page(modified_after=modified_after, page=page)
            yield result.number, result.total_pages, result.orders
            if page >= result.total_pages or not result.orders:
                return
            page += 1

    def list_webhooks(self):
        """Every webhook of the shop (all statuses)."""
        hooks, page = [], 1
        while True:
            response, batch = self._get("webhooks", {"per_page": PER_PAGE, "page": page, "status": "all"})
            hooks.extend(batch)
            total_pages = _int_header(response, "X-WP-TotalPages")
            more = len(batch) == PER_PAGE if total_pages is None else page < total_pages
            if not batch or not more:
                return hooks
            page += 1

    # -- transport -------------------------------------------------------------------------------
    def _get(self, endpoint, params, expect=list):
        """(response, JSON list, or object with expect=dict); retries what can pass, raises a
        StoreError for what cannot."""
        for attempt in range(1, self.max_tries + 1):
            started = time.perf_counter()
            retry_after = None
            try:
                # A fresh dict each time: the library adds the keys to it for query-string auth.
                response = self.api.get(endpoint, params=dict(params))
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = f"no answer ({type(error).__name__}: {_redact(str(error))})"
            else:
                status = response.status_code
                if status < 300:
                    return response, self._body(response, endpoint, expect)
                if status == 401:
                    raise StoreAuthError(self._auth_message(response))
                if status != 429 and status < 500:
                    code, message = _error_detail(response)
                    raise StoreRequestError(f"{self.store.name}: GET {endpoint} was refused with HTTP {status}"
                                            f"{f' {code}' if code else ''}: {message}", status=status, code=code)
                problem = f"HTTP {status}"
                retry_after = _retry_after(response)
            finally:
                self.requests += 1
                self.http_seconds += time.perf_counter() - started
            if attempt == self.max_tries:
                raise StoreUnavailable(f"{self.store.name}: GET {endpoint} failed {attempt} times, "
                                       f"last with {problem}; the next run will try again.")
            wait = min(MAX_WAIT, retry_after if retry_after is not None else BACKOFF_BASE * 2 ** (attempt - 1))
            self.retries += 1
            started = time.perf_counter()
            self.sleep(wait)
            self.http_seconds += time.perf_counter() - started
        raise AssertionError("unreachable")  # the loop returns or raises

    def _body(self, response, endpoint, expect=list):
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, expect):
            # A security plugin's HTML page, or PHP notices printed before the JSON.
            raise StoreRequestError(f"{self.store.name}: GET {endpoint} did not answer with a JSON "
                                    f"{'list' if expect is list else 'object'} "
                                    f"(starts {response.text[:120]!r}).", status=response.status_code)
        return body

    def _auth_message(self, response):
        # The advice comes first: exception summaries are cut at 300 characters.
        code, message = _error_detail(response)
        if self.store.query_string_auth:
            advice = ("query_string_auth is already on, so the keys themselves are refused: check the consumer "
                      "key and secret (WooCommerce → Settings → Advanced → REST API; read access is enough).")
        else:
            advice = ("If the consumer key and secret are right, the host probably strips the Authorization "
                      "header (CGI/FastCGI): turn on query_string_auth for this store to send the keys in the URL "
                      "over HTTPS.")
        return f"{self.store.name}: the store refused the API keys. {advice} WooCommerce said: HTTP 401 {code}: {message}"


def _int_header(response, name):
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _error_detail(response):
    """(code, message) from WordPress's error JSON, or ("", the start of whatever came instead)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body.get("code") or ""), _TAGS.sub(" ", str(body["message"])).strip()
    return "", _TAGS.sub(" ", response.text[:200]).strip() or response.reason or ""


def _retry_after(response):
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _redact(text):
    return _CREDENTIALS.sub(r"\1[hidden]", text)
