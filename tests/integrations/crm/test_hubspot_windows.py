"""The keyset scan behind incremental pulls returns every record exactly once, in (stamp, id) order,
whatever the ties, the page size or the point it resumes from (pure: a fake search, no HTTP)."""

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.crm.windows import EVERYTHING_AT_T, Query, Row, scan


def fake_search(rows, calls=None):
    """Search semantics of HubSpot as windows.py relies on them: one sort, ties in a scrambled order."""
    def fetch(query: Query, limit):
        if calls is not None:
            calls.append(query)
        if query.mode == "tie":
            hits = sorted((r for r in rows if r.modified == query.modified
                           and (query.after_id is None or r.id > query.after_id)), key=lambda r: r.id)
        else:
            def wanted(r):
                if query.until is not None and r.modified > query.until and r.modified != query.modified:
                    return False
                if query.after_id is None:
                    return r.modified >= query.modified
                return r.modified > query.modified or (r.modified == query.modified and r.id > query.after_id)
            hits = sorted((r for r in rows if wanted(r)),
                          key=lambda r: (r.modified, zlib.crc32(str(r.id).encode())))
        return hits[:limit], len(hits) > limit
    return fetch


def run(rows, page, since=0, after=None, until=None):
    return [r for batch in scan(fake_search(rows), since, after, until_ms=until, page_size=page) for r in batch]


@settings(max_examples=200, deadline=None)
@given(stamps=st.lists(st.integers(0, 6), min_size=0, max_size=120), page=st.integers(1, 25))
def test_every_record_comes_once_in_stamp_then_id_order(stamps, page):
    rows = [Row(stamp, i + 1, None) for i, stamp in enumerate(stamps)]
    got = run(rows, page)
    assert [(r.modified, r.id) for r in got] == sorted((r.modified, r.id) for r in rows)


@settings(max_examples=150, deadline=None)
@given(stamps=st.lists(st.integers(0, 4), min_size=1, max_size=80), page=st.integers(1, 15), cut=st.integers(0, 79))
def test_resuming_from_any_yielded_cursor_finishes_the_rest_exactly(stamps, page, cut):
    rows = [Row(stamp, i + 1, None) for i, stamp in enumerate(stamps)]
    everything = run(rows, page)
    cut = min(cut, len(everything) - 1)
    cursor = everything[cut]
    rest = run(rows, page, since=cursor.modified, after=cursor.id)
    assert everything[:cut + 1] + rest == everything


def test_a_tie_larger_than_many_pages_is_drained_by_id_and_never_loops():
    rows = [Row(5, i, None) for i in range(1, 1051)] + [Row(4, 2000, None), Row(6, 3000, None)]
    calls = []
    got = [r for b in scan(fake_search(rows, calls), 0, page_size=100) for r in b]
    assert [r.id for r in got] == [2000, *range(1, 1051), 3000]
    assert sum(q.mode == "tie" for q in calls) == 11  # 1,050 at one stamp: 11 pages by id, no repeats
    assert len(calls) < 20


def test_everything_at_since_done_skips_that_stamp_only():
    rows = [Row(1, 1, None), Row(2, 2, None), Row(2, 3, None), Row(3, 4, None)]
    assert [r.id for r in run(rows, 10, since=2, after=EVERYTHING_AT_T)] == [4]
    assert [r.id for r in run(rows, 10, since=2, after=2)] == [3, 4]
    assert [r.id for r in run(rows, 10, since=2)] == [2, 3, 4]


def test_until_bounds_the_scan():
    rows = [Row(s, i, None) for i, s in enumerate([1, 2, 3, 4, 5], start=1)]
    assert [r.modified for r in run(rows, 2, until=3)] == [1, 2, 3]
