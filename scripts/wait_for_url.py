"""Wait until a URL answers (any HTTP status), for up to 60 s: `make run` starts the sandbox shop
only once the console's web process takes requests, so the shop's first webhooks are not refused.

    python scripts/wait_for_url.py http://127.0.0.1:8000/ [--seconds 60]
"""

import argparse
import sys
import time
import urllib.error
import urllib.request


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    while True:
        try:
            urllib.request.urlopen(args.url, timeout=2).close()
            return 0
        except urllib.error.HTTPError:
            return 0  # it answered: a 405 or a redirect to the login page is an answer
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                print(f"{args.url} did not answer within {args.seconds:.0f} s", file=sys.stderr)
                return 1
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
