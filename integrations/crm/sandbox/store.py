"""The fake account's state: records of every object type, owners, lifecycle options, pipelines and
associations, behind one RLock that the HTTP threads and test code share.

Every write goes through `_apply`: it enforces HubSpot's lifecycle rule (a stage earlier than the
current one is silently ignored unless the stage was cleared first; edits "by hand" in the UI may
move it anywhere), bumps the modification stamp only when a value changed, keeps the unique index
and the history, and reports the change to `on_change` (the webhook queue).
"""

import bisect
import itertools
import re
import threading
import zlib
from collections import defaultdict

from . import schema
from .common import APP_ID, invalid_properties, iso_ms

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
API, UI = "INTEGRATION", "CRM_UI"  # webhook changeSource of a write over the API / by hand


class Record:
    __slots__ = ("id", "kind", "props", "created", "updated", "tie", "history")

    def __init__(self, rid, kind, ms):
        self.id, self.kind, self.created, self.updated = rid, kind, ms, ms
        self.props, self.history = {}, []
        # HubSpot promises no order among records equal on the sort key: the sandbox orders such
        # ties by a scrambled key, so a client that assumes id order fails here first.
        self.tie = zlib.crc32(str(rid).encode())


class CrmStore:
    def __init__(self, clock, on_change=None):
        self.lock = threading.RLock()
        self.clock, self.on_change = clock, on_change
        self.objects = {kind: {} for kind in schema.OBJECT_TYPES}
        self.unique = {kind: {p: {} for p in schema.UNIQUE.get(kind, ())} for kind in schema.OBJECT_TYPES}
        self.properties = {kind: dict(props) for kind, props in schema.PROPERTIES.items()}
        self.lifecycle = [{"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
                          for i, (value, label) in enumerate(schema.LIFECYCLE_STAGES)]
        self.owners = []
        self.links = defaultdict(lambda: defaultdict(set))  # (from, to) -> from id -> {to ids}
        # Sorted (modification stamp, id) per type: search narrows stamp and id filters by bisection.
        self.by_stamp = {kind: [] for kind in schema.OBJECT_TYPES}
        self._ids = itertools.count(101)

    # -- definitions ---------------------------------------------------------------------------
    def stage_order(self, value):
        return next((o["displayOrder"] for o in self.lifecycle if o["value"] == value), None)

    def add_lifecycle_stage(self, label, value, display_order=None):
        """A custom stage; HubSpot gives custom stages numeric internal values (e.g. "1234567")."""
        with self.lock:
            order = len(self.lifecycle) if display_order is None else int(display_order)
            for option in self.lifecycle:
                if option["displayOrder"] >= order:
                    option["displayOrder"] += 1
            self.lifecycle.append({"label": label, "value": str(value), "displayOrder": order, "hidden": False,
                                   "description": ""})
            self.lifecycle.sort(key=lambda o: o["displayOrder"])
            return {"label": label, "value": str(value), "displayOrder": order}

    def define_property(self, kind, name, type_="string", unique=False):
        with self.lock:
            self.properties[kind][name] = type_
            if unique:
                self.unique[kind].setdefault(name, {})

    def remove_property(self, kind, name):
        """An account without one of the properties the sandbox starts with (a custom one not created yet)."""
        with self.lock:
            self.properties[kind].pop(name, None)
            self.unique[kind].pop(name, None)

    def add_owner(self, email, first_name="", last_name="", archived=False, owner_id=None, user_id=None):
        with self.lock:
            n = len(self.owners) + 1
            owner = {"id": str(owner_id or 41000000 + n), "email": email, "type": "PERSON",
                     "firstName": first_name, "lastName": last_name, "userId": user_id or 9000000 + n,
                     "userIdIncludingInactive": user_id or 9000000 + n, "createdAt": iso_ms(self.clock.now_ms()),
                     "updatedAt": iso_ms(self.clock.now_ms()), "archived": bool(archived), "teams": []}
            self.owners.append(owner)
            return owner

    # -- reading -------------------------------------------------------------------------------
    def find(self, kind, key, id_property=None):
        """The record with this id (or this unique property value), or None."""
        if id_property and id_property != "hs_object_id":
            value = str(key).lower() if id_property == "email" else str(key)
            rid = self.unique[kind].get(id_property, {}).get(value)
            return self.objects[kind].get(rid)
        return self.objects[kind].get(int(key)) if str(key).isdigit() else None

    def record_json(self, rec, properties=None, history=False):
        names = properties or schema.DEFAULT_PROPERTIES[rec.kind]
        out = {"id": str(rec.id), "properties": {n: self._value(rec, n) for n in names},
               "createdAt": iso_ms(rec.created), "updatedAt": iso_ms(rec.updated), "archived": False}
        if history:
            out["propertiesWithHistory"] = {n: [h for h in rec.history if h["name"] == n] for n in names}
        return out

    def _value(self, rec, name):
        if name == "hs_object_id":
            return str(rec.id)
        if name == schema.MODIFIED[rec.kind]:
            return iso_ms(rec.updated)
        if name == schema.CREATED[rec.kind]:
            return iso_ms(rec.created)
        return rec.props.get(name)

    # -- writing -------------------------------------------------------------------------------
    def validate(self, kind, props, by_hand=False):
        problems = []
        owner_ids = {o["id"] for o in self.owners}
        for name, value in props.items():
            value = "" if value is None else str(value)
            if name not in self.properties[kind]:
                problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif name in schema.READ_ONLY and not by_hand:
                problems.append((name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
            elif value == "":
                continue
            elif name == "lifecyclestage" and self.stage_order(value) is None:
                problems.append((name, "INVALID_OPTION", f"{value} was not one of the allowed options: "
                                 + ", ".join(o["value"] for o in self.lifecycle)))
            elif name == "hubspot_owner_id" and value not in owner_ids:
                problems.append((name, "INVALID_OWNER_ID", f"{value} is not a valid owner id"))
            elif name == "email" and not EMAIL.match(value):
                problems.append((name, "INVALID_EMAIL", f"Email address {value} is invalid"))
            elif name == "dealstage" and value not in {s[0] for s in schema.DEAL_STAGES}:
                problems.append((name, "INVALID_OPTION", f"{value} was not one of the allowed options"))
            elif name == "pipeline" and value != schema.PIPELINE:
                problems.append((name, "INVALID_OPTION", f"{value} was not one of the allowed options: "
                                 f"{schema.PIPELINE}"))
        return problems

    def create(self, kind, props, source=API, ms=None):
        with self.lock:
            ms = self.clock.now_ms() if ms is None else ms
            rec = Record(next(self._ids), kind, ms)
            self.objects[kind][rec.id] = rec
            bisect.insort(self.by_stamp[kind], (rec.updated, rec.id))
            self._apply(rec, props, source, ms=ms, created=True)
            return rec

    def upsert(self, kind, inputs, source=API):
        """[(key, id_property, props)] -> [(record, created)]; one bad input fails the whole batch."""
        with self.lock:
            problems = []
            for key, id_property, props in inputs:
                problems += self.validate(kind, props)
                if id_property == "email" and not EMAIL.match(str(key)):
                    problems.append(("email", "INVALID_EMAIL", f"Email address {key} is invalid"))
            problems = list(dict.fromkeys(problems))  # the id and an equal email property: one problem
            if problems:
                raise invalid_properties(problems)
            out = []
            for key, id_property, props in inputs:
                rec = self.find(kind, key, id_property)
                if rec is None:
                    seed = {id_property: str(key).lower() if id_property == "email" else str(key)}
                    out.append((self.create(kind, {**seed, **props}, source), True))
                else:
                    self._apply(rec, props, source)
                    out.append((rec, False))
            return out

    def update(self, kind, rec, props, source=API):
        with self.lock:
            problems = self.validate(kind, props, by_hand=source == UI)
            if problems:
                raise invalid_properties(problems)
            return self._apply(rec, props, source)

    def _apply(self, rec, props, source, ms=None, created=False):
        ms = self.clock.now_ms() if ms is None else ms
        changes = []
        for name, value in props.items():
            value = "" if value is None else str(value)
            if name in ("hs_object_id", schema.MODIFIED[rec.kind], schema.CREATED[rec.kind]):
                continue
            if name == "email":
                value = value.lower()
            old = rec.props.get(name, "")
            if value == old:
                continue
            if name == "lifecyclestage" and source != UI and old and value:
                if self.stage_order(value) < self.stage_order(old):
                    continue  # HubSpot ignores a backward move over the API, without an error
            if name in self.unique[rec.kind]:
                self.unique[rec.kind][name].pop(old, None)
                if value:
                    self.unique[rec.kind][name][value] = rec.id
            if value:
                rec.props[name] = value
            else:
                rec.props.pop(name, None)
            rec.history.append({"name": name, "value": value, "timestamp": iso_ms(ms), "sourceType": source})
            changes.append({"kind": rec.kind, "id": rec.id, "name": name, "value": value, "source": source,
                            "ms": ms})
        if changes and not created:
            self._restamp(rec, max(rec.updated, ms))
        if (changes or created) and self.on_change:
            self.on_change(changes, created=rec if created else None)
        return changes

    def _restamp(self, rec, ms):
        index = self.by_stamp[rec.kind]
        del index[bisect.bisect_left(index, (rec.updated, rec.id))]
        rec.updated = ms
        bisect.insort(index, (ms, rec.id))

    def edit(self, kind, key, props):
        """A person edits the record in HubSpot's UI: any stage, any owner; bumps its stamp."""
        with self.lock:
            rec = self.find(kind, key, "email" if "@" in str(key) else None)
            if rec is None:
                raise KeyError(f"no {kind} record {key}")
            self.update(kind, rec, props, source=UI)
            return rec

    def bulk_contacts(self, count, modified_ms=None, prefix="bulk", props=None):
        """`count` contacts stamped with one lastmodifieddate (an import), for tie-break tests."""
        with self.lock:
            ms = self.clock.now_ms() if modified_ms is None else int(modified_ms)
            start = len(self.objects["contacts"])
            return [self.create("contacts", {"email": f"{prefix}{start + i}@example.com", **(props or {})},
                                source=UI, ms=ms) for i in range(count)]

    def add_activity(self, kind, contact_ids=(), props=None, occurred_ms=None, modified_ms=None):
        with self.lock:
            ms = self.clock.now_ms() if modified_ms is None else int(modified_ms)
            occurred = iso_ms(occurred_ms if occurred_ms is not None else ms)
            rec = self.create(kind, {"hs_timestamp": occurred, **(props or {})}, source=UI, ms=ms)
            for cid in contact_ids:
                self.associate(kind, rec.id, "contacts", int(cid))
            return rec

    # -- associations --------------------------------------------------------------------------
    def associate(self, from_kind, from_id, to_kind, to_id):
        with self.lock:
            self.links[(from_kind, to_kind)][from_id].add(to_id)
            self.links[(to_kind, from_kind)][to_id].add(from_id)

    def associated(self, from_kind, from_id, to_kind):
        with self.lock:
            return sorted(self.links[(from_kind, to_kind)].get(from_id, ()))

    def snapshot(self, kind=None):
        """Plain JSON of the state (all properties), for tests and GET /_sandbox/state."""
        with self.lock:
            kinds = [kind] if kind else list(schema.OBJECT_TYPES)
            out = {k: [self.record_json(r, sorted(set(r.props) | {"hs_object_id"})) for r in self.objects[k].values()]
                   for k in kinds}
            if kind is None:
                out["owners"] = list(self.owners)
                out["lifecycle_stages"] = list(self.lifecycle)
                out["app_id"] = APP_ID
            return out
