"""How many refused deliveries a store may have recorded per minute.

Anyone can POST to a store's webhook address. A delivery with a bad or missing signature, a body
too large or malformed JSON is recorded with its reason (operators read them under Failed
deliveries), which costs a row and, for the first two, up to the size limit in body bytes: a
flood of them could fill the database. So refusals are recorded up to a generous rate per store;
past it they are answered 429 with Retry-After and not recorded, and the log says so once a minute.

Signed deliveries are never limited: WooCommerce does not retry a delivery that failed (a 429
included; woocommerce/woocommerce#28628) and disables a webhook after five failures in a row, so
refusing one would lose an order change. They are one insert each, and the store's drain works
through them at its own pace, however fast they arrive.

The count is kept in Django's cache: per process with the default local-memory cache (each web
process then records up to the rate), shared by every process when CACHES names a shared cache.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60
RETRY_AFTER = str(WINDOW_SECONDS)


def may_record(store_id, clock=time.time):
    """True while the store's refusals this minute are within AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE;
    counts this one."""
    window = int(clock() // WINDOW_SECONDS)
    key = f"webhook-refusals:{store_id}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)  # outlives its minute, so no count restarts within it
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: this refusal starts the count again
        cache.add(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    limit = settings.AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE
    if count == limit + 1:
        log.warning("store %s: %s refused deliveries this minute; until the minute ends further refusals are "
                    "answered 429 and not recorded (signed deliveries are still accepted)", store_id, limit)
    return count <= limit
