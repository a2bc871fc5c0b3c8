"""Figure: the WooCommerce sandbox generates and serves 20,000 orders quickly enough for sync tests.

Prints generation time, a full paged scan (200 pages x 100 orders over HTTP, Basic auth, following
X-WP-TotalPages), an incremental modified_after scan, and the same scan through the official
`woocommerce` client (OAuth 1.0a over plain http). Budgets: generation <= 5 s, full scan <= 15 s.

    .venv/bin/python benchmarks/wc_sandbox_20k.py [orders]
"""

import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.woocommerce.sandbox import SandboxStore  # noqa: E402

GENERATE_BUDGET_S, SCAN_BUDGET_S = 5.0, 15.0


def scan(session, url, params):
    started, page, seen = time.perf_counter(), 1, 0
    while True:
        response = session.get(url, params={**params, "page": page}, timeout=30)
        response.raise_for_status()
        seen += len(response.json())
        if page >= int(response.headers["X-WP-TotalPages"]):
            return seen, time.perf_counter() - started
        page += 1


def main(orders=20000):
    started = time.perf_counter()
    store = SandboxStore(seed=1, orders=orders, consumer_key="ck_bench", consumer_secret="cs_bench")
    generated = time.perf_counter() - started
    print(f"generate {orders} orders: {generated:.2f} s (budget {GENERATE_BUDGET_S} s)")
    store.start()
    try:
        session = requests.Session()
        session.auth = ("ck_bench", "cs_bench")
        url = f"{store.url}/wp-json/wc/v3/orders"
        seen, cold = scan(session, url, {"per_page": 100})
        print(f"full scan, cold JSON cache: {seen} orders in {cold:.2f} s (budget {SCAN_BUDGET_S} s)")
        seen, warm = scan(session, url, {"per_page": 100})
        print(f"full scan, warm: {seen} orders in {warm:.2f} s ({warm / (seen / 100) * 1000:.1f} ms/page)")
        cut = sorted(o["date_modified_gmt"] for o in store.orders.values())[-500]
        params = {"per_page": 100, "orderby": "modified", "order": "asc", "dates_are_gmt": "true",
                  "modified_after": cut}
        seen, incremental = scan(session, url, params)
        print(f"incremental (modified_after, last ~500): {seen} orders in {incremental:.2f} s")
        try:
            from woocommerce import API
        except ImportError:
            return
        client = API(url=store.url, consumer_key="ck_bench", consumer_secret="cs_bench", version="wc/v3", timeout=30)
        started, page = time.perf_counter(), 1
        while True:
            response = client.get("orders", params={"per_page": 100, "page": page})
            if page >= int(response.headers["X-WP-TotalPages"]):
                break
            page += 1
        print(f"full scan via woocommerce client (OAuth1): {page} pages in {time.perf_counter() - started:.2f} s")
    finally:
        store.stop()
    ok = generated <= GENERATE_BUDGET_S and cold <= SCAN_BUDGET_S
    print("within budget" if ok else "OVER BUDGET")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
