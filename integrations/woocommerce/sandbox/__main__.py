"""python -m integrations.woocommerce.sandbox — serve a fake WooCommerce store for the live demo.

    python -m integrations.woocommerce.sandbox --port 8100 --orders 200 \\
        --consumer-key ck_demo --consumer-secret cs_demo \\
        --webhook-url http://127.0.0.1:8000/integrations/woocommerce/webhook --webhook-secret s3cret \\
        --tick-seconds 5 --seed 1

With --webhook-url it registers one webhook per topic (pinging each, as WooCommerce does) and,
every --tick-seconds, moves the shop forward and delivers what happened.
"""

import argparse
import signal
import sys
import threading
import time

from .store import SandboxStore

DEFAULT_TOPICS = "order.created,order.updated,order.deleted,order.restored,customer.created,customer.updated"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m integrations.woocommerce.sandbox", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--public-url", help="URL to advertise in links and X-WC-Webhook-Source")
    p.add_argument("--orders", type=int, default=200)
    p.add_argument("--customers", type=int, help="registered customers (default: orders/4)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history-days", type=int, default=90)
    p.add_argument("--consumer-key", default="ck_sandbox")
    p.add_argument("--consumer-secret", default="cs_sandbox")
    p.add_argument("--webhook-url")
    p.add_argument("--webhook-secret")
    p.add_argument("--webhook-topics", default=DEFAULT_TOPICS, help="comma list (one webhook each)")
    p.add_argument("--tick-seconds", type=float, default=5.0, help="0 disables the simulation")
    p.add_argument("--new-orders-per-tick", type=float, default=2.0)
    p.add_argument("--max-delivery-failures", type=int, default=5)
    p.add_argument("--duplicate-rate", type=float, default=0.0)
    p.add_argument("--reorder-rate", type=float, default=0.0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--strip-authorization", action="store_true", help="act like hosts that drop the header")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway self-signed cert")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    store = SandboxStore(seed=args.seed, orders=args.orders, customers=args.customers,
                         consumer_key=args.consumer_key, consumer_secret=args.consumer_secret,
                         history_days=args.history_days, max_delivery_failures=args.max_delivery_failures,
                         duplicate_rate=args.duplicate_rate, reorder_rate=args.reorder_rate,
                         new_orders_per_step=args.new_orders_per_tick,
                         faults={"latency_ms": args.latency_ms, "strip_authorization": args.strip_authorization})
    generated = time.perf_counter() - started

    def report(changes, results):
        if changes or results:
            codes = ",".join(str(r["status"]) for r in results) or "-"
            print(f"[tick] {changes} change(s); {len(results)} delivery(ies) [{codes}]", flush=True)

    store.start(args.host, args.port, tls=args.tls, verbose=args.verbose, public_url=args.public_url,
                tick_seconds=None)
    print(f"WooCommerce sandbox at {store.url}  ({len(store.orders)} orders, {len(store.customers)} customers, "
          f"generated in {generated:.2f}s)", flush=True)
    print(f"  REST: {store.api_url}  key={args.consumer_key} secret={args.consumer_secret}", flush=True)
    if store.cafile:
        print(f"  TLS certificate (use as CA bundle): {store.cafile}", flush=True)
    if args.webhook_url:
        for topic in [t.strip() for t in args.webhook_topics.split(",") if t.strip()]:
            hook = store.create_webhook(topic, args.webhook_url, secret=args.webhook_secret,
                                        name=f"Aftercare {topic}")
            ping = store.pings[-1]
            print(f"  webhook {hook['id']} {topic} -> {args.webhook_url} (ping: {ping['status'] or ping['error']})",
                  flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(args.tick_seconds if args.tick_seconds > 0 else 3600):
            if args.tick_seconds > 0:
                report(store.advance(1), store.deliver_pending() if args.webhook_url else [])
    except KeyboardInterrupt:
        pass
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
