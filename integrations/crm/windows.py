"""Incremental pulls by (modification stamp, id) that survive the CRM search's limits.

HubSpot's search answers at most 10,000 results per query, applies one sort rule, promises no
order among records with equal stamps, and pages by offset (a record modified during the scan moves
and shifts every later offset by one). So the scan never pages by offset: every request is a new
query from the last complete point (keyset paging), its offset is always 0 and the cap is never
near, however many records changed.

The rule, with cursor (t, last) meaning "every record before (t, last) in (stamp, id) order is done":

  1. Ask, sorted by stamp ascending, for  stamp > t  OR  (stamp = t AND id > last)   (stamp >= t when
     there is no `last`), bounded by `until`.
  2. If the answer is the last page, every row is new: yield them in (stamp, id) order; finished.
  3. Otherwise the rows with the page's highest stamp may continue on the next page, and ties come in
     no particular order: yield only the rows with a lower stamp, in (stamp, id) order; the cursor
     moves to the last of them; go to 1 (the held-back rows come again, complete or not).
  4. If the whole page shares one stamp T there is nothing complete to yield: drain T alone, sorted
     by id (one sort rule, a total order): stamp = T AND id > last, page after page, each from the
     previous page's last id. Then the cursor is (T, highest id) and go to 1.

Every step yields at least one row or drains a stamp completely, and the cursor only moves forward,
so the scan neither loops nor skips, even through 10,500 records sharing one stamp. Records modified
while it runs move to a later stamp and are met again there (at least once, never lost).
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

EVERYTHING_AT_T = math.inf  # after_id meaning "all records at exactly `since` are done"


class Row(NamedTuple):
    modified: int  # epoch milliseconds
    id: int
    data: object


@dataclass(frozen=True)
class Query:
    """What to ask for: mode "time" (step 1) or "tie" (step 4, stamp == modified, by id)."""
    mode: str
    modified: int
    after_id: float | None  # int id, None (nothing at `modified` done yet) or EVERYTHING_AT_T
    until: int | None = None


def _order(row):
    return row.modified, row.id


def scan(fetch, since_ms, after_id=None, *, until_ms=None, page_size=200):
    """Yield lists of Row in (modified, id) order. `fetch(query, limit)` -> (rows, has_more)."""
    t, last = since_ms, after_id
    while True:
        rows, more = fetch(Query("time", t, last, until_ms), page_size)
        if not more:
            if rows:
                yield sorted(rows, key=_order)
            return
        top = max(row.modified for row in rows)
        done = sorted((row for row in rows if row.modified < top), key=_order)
        if done:
            yield done
            t, last = done[-1].modified, done[-1].id
            continue
        tie_last = last if top == t and last is not None and last is not EVERYTHING_AT_T else None
        for batch in _drain(fetch, top, tie_last, page_size):
            yield batch
            tie_last = batch[-1].id
        t, last = top, (tie_last if tie_last is not None else EVERYTHING_AT_T)


def _drain(fetch, stamp, after_id, page_size):
    while True:
        rows, more = fetch(Query("tie", stamp, after_id), page_size)
        rows = sorted(rows, key=_order)
        if rows:
            yield rows
            after_id = rows[-1].id
        if not more or not rows:
            return
