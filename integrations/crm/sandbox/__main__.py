"""python -m integrations.crm.sandbox — serve a fake HubSpot account for the live demo and benchmarks.

    python -m integrations.crm.sandbox --port 8200 --token pat-demo --tier professional \\
        --contacts 50 --owners 4 \\
        --webhook-url http://127.0.0.1:8000/webhooks/hubspot/demo/ --webhook-secret s3cret

Point the adapter (or `connect_crm hubspot --base-url`) at the printed URL with the same token.
Control endpoints are under /_sandbox (see control.py); Ctrl-C or SIGTERM stops it.
"""

import argparse
import signal
import sys
import threading

from . import schema
from .app import SandboxCrm


def build_parser():
    p = argparse.ArgumentParser(prog="python -m integrations.crm.sandbox", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8200)
    p.add_argument("--token", default="pat-sandbox", help="the private app token clients must send")
    p.add_argument("--scopes", help="comma list granted to the token (default: every scope the sandbox knows)")
    p.add_argument("--tier", choices=["professional", "starter"], default="professional",
                   help="190 or 100 requests per 10 s")
    p.add_argument("--contacts", type=int, default=0, help="seed contacts")
    p.add_argument("--owners", type=int, default=3, help="seed owners with made-up names")
    p.add_argument("--owner-emails", default="",
                   help="owners with these emails first, comma-separated, each optionally with its name: "
                        "'ann@example.com:Ann Lee,bo@example.com' (make run: the demo agents')")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--window-seconds", type=float, default=10.0, help="the rolling window of the request limit")
    p.add_argument("--retry-after", default=None,
                   help="'window' sends Retry-After on 429s, a number sends that; default: none, like HubSpot")
    p.add_argument("--search-cap", type=int, default=10_000, help="results reachable per search query")
    p.add_argument("--no-limits", action="store_true", help="answer no 429 at all")
    p.add_argument("--time-zone", default="UTC", help="the account's time zone (its daily limit's days), e.g. US/Eastern")
    p.add_argument("--webhook-url")
    p.add_argument("--webhook-secret", default="sandbox-app-secret")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()] if args.scopes else None
    retry_after = args.retry_after
    if retry_after not in (None, "window"):
        retry_after = float(retry_after)
    owner_emails = [e for e in args.owner_emails.split(",") if e.strip()]
    crm = SandboxCrm(token=args.token, scopes=scopes, tier=args.tier, contacts=args.contacts, owners=args.owners,
                     owner_emails=owner_emails, seed=args.seed, window_seconds=args.window_seconds, retry_after=retry_after,
                     search_cap=args.search_cap, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
                     time_zone=args.time_zone)
    if args.no_limits:
        crm.limits.enabled = False
    crm.start(args.host, args.port, verbose=args.verbose)
    granted = sorted(crm.tokens[args.token])
    print(f"HubSpot sandbox at {crm.url}  (tier {args.tier}: {crm.limits.per_window} requests / "
          f"{crm.limits.window_seconds:g} s; {args.contacts} contacts, {len(crm.store.owners)} owners)", flush=True)
    print(f"  token: {args.token}  scopes: {', '.join(granted) if scopes else 'all (' + str(len(schema.ALL_SCOPES)) + ')'}",
          flush=True)
    if args.webhook_url:
        crm.webhooks.start(interval=1.0)
        print(f"  webhooks (v3-signed) -> {args.webhook_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        crm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
