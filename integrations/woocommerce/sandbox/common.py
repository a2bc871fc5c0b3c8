"""Small shared pieces: PHP-shaped JSON, the store clock, WordPress date strings, money."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta

# What the fake store claims to be, in the webhook User-Agent and in each order's "version".
WC_VERSION = "9.8.5"
WP_VERSION = "6.8.1"
API_PREFIX = "/wp-json/wc/v3"


def php_json(obj) -> bytes:
    """Bytes as PHP's json_encode($obj) (default flags) writes them: "/" as "\\/", non-ASCII as
    \\uXXXX (surrogate pairs above U+FFFF), no spaces. WordPress sends REST bodies and webhook
    bodies this way, and the webhook signature covers exactly these bytes."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # A "/" can only occur inside a JSON string, so replacing after dumping is safe.
    return text.replace("/", "\\/").encode("ascii")


def wp_hash(data: str, salt: str) -> str:
    """wp_hash(): hash_hmac('md5', $data, wp_salt()). WooCommerce derives delivery ids from it."""
    return hmac.new(salt.encode(), data.encode(), hashlib.md5).hexdigest()


def iso(dt: datetime) -> str:
    """WordPress REST date: 2017-03-22T16:28:02, no fraction and no zone suffix."""
    return dt.isoformat(timespec="seconds")  # naive UTC/site datetimes: no zone suffix


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def money(cents: int) -> str:
    """Totals are strings with two decimals, as wc_format_decimal($x, 2) gives them."""
    # Exact for integer cents: the double nearest to n/100 is far closer than 0.005 to it.
    return f"{cents / 100:.2f}"


def trimmed(cents: int) -> str:
    """Tax entries in line items are unrounded decimals with trailing zeros cut ("0.9")."""
    text = money(cents).rstrip("0").rstrip(".")
    return text or "0"


class Clock:
    """UTC wall clock at second precision; naive datetimes, like the *_gmt fields.

    start=None follows real time; a start value freezes the clock there until advance() moves
    it, so tests get exact timestamps (and the same-second collisions a real store has).
    """

    def __init__(self, start=None):
        self._lock = threading.Lock()
        if isinstance(start, str):
            start = datetime.fromisoformat(start.replace("Z", "+00:00"))
        if start is not None and start.tzinfo is not None:
            start = start.astimezone(UTC).replace(tzinfo=None)
        self._start = start.replace(microsecond=0) if start is not None else None
        self._shift = timedelta(0)

    @property
    def frozen(self) -> bool:
        return self._start is not None

    def now(self) -> datetime:
        with self._lock:
            base = self._start if self._start is not None else datetime.now(UTC).replace(tzinfo=None)
            return (base + self._shift).replace(microsecond=0)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._shift += timedelta(seconds=seconds)
        return self.now()
