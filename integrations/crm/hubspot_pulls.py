"""Incremental pulls from HubSpot (mixed into HubSpotAdapter): records and activities changed since
a cursor, through the search endpoints, as keyset scans (windows.py explains the rule).

Two things the search endpoint does not do, and how they are covered:
  * It returns no associations: a v4 batch read per page fetches them (deals' contacts, activities'
    contacts).
  * Its index trails writes by a few seconds: a scan stops at `until` (default: now minus
    index_lag_seconds), so a record indexed late is not passed by a cursor that already moved on;
    the next pull, from the saved cursor, finds it.

Activities of the five types come merged in one (modified_at, type, id) order, so one cursor
(modified_at, Activity.cursor) resumes all of them.
"""

import functools
import heapq
from datetime import UTC, datetime

from hubspot.crm import objects as o
from hubspot.crm.associations import v4

from . import windows
from .base import Activity, Changed

# plural type -> (Activity.type, subject property, body property). The order is the tie-break order.
ACTIVITY_TYPES = {"notes": ("note", None, "hs_note_body"), "calls": ("call", "hs_call_title", "hs_call_body"),
                  "emails": ("email", "hs_email_subject", "hs_email_text"),
                  "meetings": ("meeting", "hs_meeting_title", "hs_meeting_body"),
                  "tasks": ("task", "hs_task_subject", "hs_task_body")}
RANK = {single: i for i, (single, _, _) in enumerate(ACTIVITY_TYPES.values())}
PLURAL = {single: kind for kind, (single, _, _) in ACTIVITY_TYPES.items()} | {"contact": "contacts", "deal": "deals"}
# Contacts kept their pre-"hs_" name for the stamp.
MODIFIED = {"contacts": "lastmodifieddate"}
ASSOCIATIONS_BATCH = 100


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_stamp(value) -> int | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _filter(name, operator, value):
    return o.Filter(property_name=name, operator=operator, value=str(int(value)))


def filter_groups(stamp, query):
    """The search request's filterGroups and sort for a windows.Query."""
    if query.mode == "tie":
        filters = [_filter(stamp, "EQ", query.modified)]
        if query.after_id is not None:
            filters.append(_filter("hs_object_id", "GT", query.after_id))
        return [o.FilterGroup(filters=filters)], {"propertyName": "hs_object_id", "direction": "ASCENDING"}
    bound = [_filter(stamp, "LTE", query.until)] if query.until is not None else []
    sort = {"propertyName": stamp, "direction": "ASCENDING"}
    if query.after_id is None:
        return [o.FilterGroup(filters=[_filter(stamp, "GTE", query.modified), *bound])], sort
    later = o.FilterGroup(filters=[_filter(stamp, "GT", query.modified), *bound])
    if query.after_id is windows.EVERYTHING_AT_T:
        return [later], sort
    same = o.FilterGroup(filters=[_filter(stamp, "EQ", query.modified), _filter("hs_object_id", "GT", query.after_id)])
    return [later, same], sort


class PullsMixin:
    def changed(self, object_type, since, after_id=None, properties=(), associations=(), until=None):
        kind = PLURAL.get(object_type, object_type)
        stamp = MODIFIED.get(kind, "hs_lastmodifieddate")
        names = sorted({stamp, "hs_object_id", *properties})
        after = int(after_id) if after_id not in (None, "") else None
        for rows in self._scan(kind, stamp, names, since, after, until):
            links = {to: self._linked(kind, PLURAL.get(to, to), [r.id for r in rows]) for to in associations}
            yield [Changed(str(r.id), from_ms(r.modified), r.data,
                           {to: tuple(links[to].get(str(r.id), ())) for to in associations}) for r in rows]

    def activities(self, since, after_id=None, types=None, until=None):
        kinds = [PLURAL.get(t, t) for t in (types or ACTIVITY_TYPES)]
        cursor_type, cursor_id = None, None
        if after_id:
            cursor_type, _, raw_id = str(after_id).partition(":")
            if cursor_type not in RANK or not raw_id.isdigit():
                raise ValueError(f"an activities cursor looks like 'note:123', not {after_id!r}")
            cursor_id = int(raw_id)
        until = until or (self.now() - self.index_lag)
        streams = []
        for kind in kinds:
            single = ACTIVITY_TYPES[kind][0]
            if cursor_type is None or RANK[single] > RANK[cursor_type]:
                start = None
            elif single == cursor_type:
                start = cursor_id
            else:  # a type ordered before the cursor's: its records at `since` were all passed
                start = windows.EVERYTHING_AT_T
            streams.append(self._activity_stream(kind, since, start, until))
        batch = []
        for activity in heapq.merge(*streams, key=lambda a: (a.modified_at, RANK[a.type], int(a.id))):
            batch.append(activity)
            if len(batch) >= self.page_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _activity_stream(self, kind, since, after_id, until):
        single, subject, body = ACTIVITY_TYPES[kind]
        names = [n for n in ("hs_lastmodifieddate", "hs_timestamp", "hubspot_owner_id", subject, body) if n]
        for rows in self._scan(kind, "hs_lastmodifieddate", names, since, after_id, until):
            links = self._linked(kind, "contacts", [r.id for r in rows])
            for r in rows:
                occurred = parse_stamp(r.data.get("hs_timestamp"))
                yield Activity(id=str(r.id), type=single, modified_at=from_ms(r.modified),
                               occurred_at=from_ms(occurred) if occurred is not None else None,
                               contact_ids=tuple(links.get(str(r.id), ())),
                               subject=r.data.get(subject) if subject else None, body=r.data.get(body),
                               owner_id=r.data.get("hubspot_owner_id"))

    def _scan(self, kind, stamp, names, since, after_id, until):
        until = until or (self.now() - self.index_lag)
        fetch = functools.partial(self._search_page, kind, stamp, names)
        yield from windows.scan(fetch, to_ms(since), after_id, until_ms=to_ms(until), page_size=self.page_size)

    def _search_page(self, kind, stamp, names, query, limit):
        groups, sort = filter_groups(stamp, query)
        request = o.PublicObjectSearchRequest(filter_groups=groups, sorts=[sort], properties=names, limit=limit)
        answer = self._call_json(self._search.do_search, kind, request, search=True)
        rows = [windows.Row(parse_stamp(r["properties"].get(stamp)), int(r["id"]), r["properties"])
                for r in answer.get("results") or []]
        return rows, bool(((answer.get("paging") or {}).get("next") or {}).get("after"))

    def _linked(self, kind, to_kind, ids):
        """{from id: (to ids, ascending)} for `ids`; objects without associations are simply absent."""
        found = {}
        for start in range(0, len(ids), ASSOCIATIONS_BATCH):
            request = v4.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[v4.PublicFetchAssociationsBatchRequest(id=str(i)) for i in ids[start:start + ASSOCIATIONS_BATCH]])
            answer = self._call_json(self._associations.get_page, kind, to_kind, request)
            for result in answer.get("results") or []:  # objects without any are 207 errors: absent
                found[str(result["from"]["id"])] = tuple(str(t["toObjectId"]) for t in
                                                         sorted(result.get("to") or [], key=lambda t: int(t["toObjectId"])))
        return found
