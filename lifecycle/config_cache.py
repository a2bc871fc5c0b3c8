"""A per-process cache of configuration rows that are read on every event and almost never edited
(exception policies, calendars, a store's status mappings).

An edit saved in this process applies at once (the model's save/delete signals call `changed()`);
one saved in another process (the admin's, seen by a worker) within `lifetime` seconds. A
transaction that has itself edited such rows neither fills nor reads the cache: its rows are not
committed yet, and a rollback sends no signal that would drop them again.
"""

import threading
import time

from django.db import connection, transaction

# How stale another process's view of a configuration row may be. Also the delay for edits made
# without signals (QuerySet.update, bulk_create).
CACHE_SECONDS = 60.0


def _edited_in_this_transaction():
    marker = getattr(connection, "_aftercare_config_edited_in", None)
    if marker is None:
        return False
    if connection.in_atomic_block and connection.atomic_blocks and connection.atomic_blocks[0] is marker:
        return True
    connection._aftercare_config_edited_in = None  # that transaction has ended, committed or not
    return False


class ConfigCache:
    """Entries by (table, key), all dropped together on any edit or after the lifetime."""

    def __init__(self, *tables, lifetime=CACHE_SECONDS, clock=time.monotonic):
        self._lock = threading.Lock()
        self._names, self.lifetime, self.clock = tables, lifetime, clock
        self.clear()

    def clear(self):
        with self._lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.tables, self.loaded_at = {name: {} for name in self._names}, self.clock()

    def get(self, table, key, load):
        if _edited_in_this_transaction():
            return load(key)
        if self.clock() - self.loaded_at > self.lifetime:
            self.clear()
        generation, entries = self.generation, self.tables[table]
        if key not in entries:
            value = load(key)
            with self._lock:
                if generation == self.generation:  # not cleared while loading: the value is current
                    entries[key] = value
            return value
        return entries[key]

    def forget(self, table, key):
        """Drop one entry (read afresh next time), leaving the others."""
        with self._lock:
            self.tables[table].pop(key, None)

    def changed(self):
        """Call on every save or delete of a cached row (a signal receiver does)."""
        self.clear()
        if connection.in_atomic_block:
            connection._aftercare_config_edited_in = connection.atomic_blocks[0]
            # Another thread may cache the old rows until this commits: drop them then.
            transaction.on_commit(self.clear)
