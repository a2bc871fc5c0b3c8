"""Reconciliation (issue 13, items 7-8): per order, what each system's newest status means, compared
under the active tolerance rules (lifecycle.models.ToleranceRule, data managers edit). Outside a
rule's tolerance the order's one `state_mismatch` (the subject observations use, so an order has one
open mismatch whoever saw the disagreement first) opens or is brought up to date with the evidence:
each system's raw status, its canonical meaning, when it said it, and the rule in words; it is owned
by the order's owner team (the kind's ExceptionPolicy routes it there). When the systems agree again
it resolves, saying why.

- Set-based: one statement finds every (order, system pair) that breaks a rule (lifecycle/db/reconcile.py);
  Python only handles those few, and the open mismatches among the orders compared.
- A rule's window counts from when its left (leading) system reported its status; once a mismatch is
  open it stays open while any rule's condition holds, window or not, and closes only on agreement.
- What a status means is the mapping of the system that reports it, registered by its integration
  (status_meanings_register): lifecycle never imports integrations. A status nobody mapped is never
  compared (its `unmapped_status` owns it), and never taken for agreement either.
- Incremental: a run compares the orders whose source states arrived since the last run, and those
  whose tolerance window ended since; a change of rules or mappings makes the next run a full one.
- Mismatches opened elsewhere (a move the state graph refused: evidence "wanted") are brought up to
  date with the systems' disagreement too, but only their own resolver closes them.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from lifecycle import statuses
from lifecycle.db import reconcile as rows
from lifecycle.models import OPEN_STATUSES, ExceptionCase, ExceptionKind, ExceptionStatus, Order, OrderState
from lifecycle.models import ReconcileWatermark, ToleranceRule
from lifecycle.services.exceptions import Raise, exceptions_raise, exceptions_resolve
from lifecycle.services.timeline import SYSTEM_NAMES

KIND = ExceptionKind.STATE_MISMATCH
SOURCE = "reconciliation"  # evidence["source"] of the mismatches this engine owns
# A source state committed a little after a run read the table, but stamped before the run's moment
# (a long transaction, another host's clock): the next run looks this far back again. Comparing an
# order twice changes nothing.
OVERLAP = timedelta(minutes=2)
CHUNK = 5_000  # orders per exception lookup: well under every backend's parameter limit

_meanings = {}
_cached_meanings = {}


def status_meanings_register(system, load, *, cached=None):
    """An integration says how its system's raw statuses read: `load()` returns {namespace: {raw
    status: canonical state or statuses.IGNORE}}, namespace "" holding the defaults of every
    namespace. Called once at import time; `load` runs at the start of every reconciliation.
    `cached()`, if given, answers the same from a per-process cache, for screens that read it on
    every view (status_meanings_of)."""
    _meanings[system] = load
    if cached is not None:
        _cached_meanings[system] = cached
    else:
        _cached_meanings.pop(system, None)


def status_meanings_unregister(system):
    _meanings.pop(system, None)
    _cached_meanings.pop(system, None)


def status_meanings_of(system, *, cached=False):
    """What a system's raw statuses mean, as its integration registered them ({} when none did);
    `cached`: from its per-process cache when it registered one."""
    load = (_cached_meanings.get(system) if cached else None) or _meanings.get(system)
    return load() if load is not None else {}


def mismatch_subject(order_id):
    """The one subject of an order's state_mismatch, as lifecycle.services.observations writes it."""
    return f"order:{order_id}"


@dataclass
class Reconciled:
    """What a run did. `evaluated_ids`: the orders it compared, except on a full pass (None)."""

    now: object
    full: bool
    evaluated_ids: list | None = None
    outside: int = 0  # orders outside tolerance now
    within: int = 0  # orders whose systems disagree, still inside the window
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    kept: list = field(default_factory=list)  # open mismatches not resolved: a status nobody mapped

    @property
    def evaluated(self):
        return None if self.evaluated_ids is None else len(self.evaluated_ids)


def reconcile(*, order_ids=None, full=False, now=None, actor):
    """Compare the orders' systems and open, update or resolve their state_mismatch. `order_ids`:
    exactly these (the watermark stays); else every order when `full` (or on the first run, or when
    the rules or mappings changed since the last), else the orders changed or due since the last run.
    One run at a time (the watermark row is locked); a rerun changes nothing that did not change."""
    now = now or timezone.now()
    rules = active_rules()
    meanings = _meaning_rows()
    fingerprint = _fingerprint(rules, meanings)
    with transaction.atomic():
        mark = _watermark()
        if order_ids is not None:
            scope = sorted(set(order_ids))
        elif full or mark.last_run_at is None or mark.fingerprint != fingerprint:
            scope = None
        else:
            # A window that ended since the last run: its end is in (last run, now]. (One seen late,
            # committed after the last run read, arrived since: the received side finds it.)
            last = mark.last_run_at
            windows = [(r.left_system, last - _window(r), now - _window(r)) for r in rules if r.window_minutes]
            scope = rows.candidates(last - OVERLAP, windows)
        result = Reconciled(now=now, full=scope is None, evaluated_ids=scope)
        _compare(rules, meanings, scope, result, actor)
        if order_ids is None:
            mark.last_run_at, mark.fingerprint, mark.updated_at = now, fingerprint, timezone.now()
            mark.last_full_at = now if scope is None else mark.last_full_at
            mark.evaluated, mark.opened, mark.updated, mark.resolved = (
                result.evaluated, result.opened, result.updated, result.resolved)
            mark.save()
    return result


def reconcile_soon():
    """Queue an incremental reconciliation after the caller's transaction commits: an ERP import or a
    backfill that changed many orders has them compared within seconds, not at the next beat run.
    Robust: a broker that is down must not fail the committed change (the beat's run covers it)."""
    from lifecycle.tasks import reconcile_orders  # the tasks module imports the services

    transaction.on_commit(lambda: reconcile_orders.delay(), robust=True)


def active_rules():
    """The active rules the engine can apply (a rule naming an unknown state or one system twice is
    left out: the admin's form refuses them, a bulk edit might not)."""
    usable = []
    for rule in ToleranceRule.objects.filter(active=True).order_by("window_minutes", "pk"):
        states = [*rule.left_states, *rule.right_states] if isinstance(rule.left_states, list) else [None]
        if rule.left_system != rule.right_system and all(s in statuses.CANONICAL_STATES for s in states) and (
                rule.condition == ToleranceRule.Condition.AMOUNTS or rule.left_states):
            usable.append(rule)
    return usable


def _window(rule):
    return timedelta(minutes=rule.window_minutes)


def _watermark():
    """The one watermark row, locked: a second run waits for this one, then compares what came since."""
    return ReconcileWatermark.objects.select_for_update().get_or_create(pk=1)[0]


def _meaning_rows():
    """[(system, namespace, lookup key, canonical state or "")] from every registered system."""
    found = []
    for system, load in sorted(_meanings.items()):
        for namespace, mapping in sorted(load().items()):
            for raw, meaning in mapping.items():
                state = meaning if meaning in statuses.CANONICAL_STATES else ""
                if not namespace and not state:
                    continue  # a default that means nothing: as if unmapped
                key = statuses.status_key(raw, system)
                # The spelling with the system's prefix ("wc-processing") reads like the one without.
                prefix = statuses._PREFIXES.get(system)  # the domain's own spelling rule
                for spelling in {key, f"{prefix}{key}"} if prefix else {key}:
                    found.append((system, namespace, spelling, state))
    return sorted(set(found))


def _fingerprint(rules, meanings):
    described = [[r.pk, r.left_system, r.right_system, r.condition, r.left_states, r.right_match, r.right_states,
                  r.right_absent_counts, str(r.amount_tolerance), r.window_minutes] for r in rules]
    return hashlib.sha256(json.dumps([described, meanings]).encode()).hexdigest()


def _sql_rules(rules):
    return [rows.RuleSql(r.pk, r.left_system, r.right_system, r.condition, list(r.left_states), r.right_match,
                         list(r.right_states), r.right_absent_counts, int(r.amount_tolerance * 100)) for r in rules]


def _compare(rules, meanings, scope, result, actor):
    by_id = {r.pk: r for r in rules}
    found = {}
    for match in rows.matches(_sql_rules(rules), meanings, scope):
        found.setdefault(match.order_id, []).append(match)
    cases = _open_mismatches(scope)
    raises, reasons = [], {}
    for order_id, order_matches in found.items():
        case = cases.get(order_id)
        matched = sorted(((m, by_id[i]) for m in order_matches for i in m.rule_ids),
                         key=lambda pair: (pair[1].window_minutes, pair[1].pk))
        outside = [(m, rule) for m, rule in matched if _outside(m, rule, result.now)]
        inside = [(m, rule) for m, rule in matched if not _outside(m, rule, result.now)]
        result.outside += bool(outside)
        result.within += bool(inside) and not outside
        # An open mismatch of ours stays open while any condition holds; a new one waits for its window.
        broken = outside or (inside if case and _ours(case[1]) else [])
        if not broken:
            continue
        evidence = _evidence(broken, result.now)
        if case is not None:
            evidence = {**case[1], **evidence} if not _ours(case[1]) else evidence
            if evidence == case[1]:
                continue
        raises.append((order_id, evidence, _summary(broken)))
    _raise(_without_dismissed(raises, found, cases), result, actor)
    resolvable = {oid: ev for oid, (_, ev) in cases.items() if oid not in found and _ours(ev)}
    if resolvable:
        named = {s for evidence in resolvable.values() for s in evidence.get("systems") or {}}
        now_saying = rows.sides(sorted(resolvable), named & set(rows.SYSTEMS), meanings)
        for order_id, evidence in resolvable.items():
            reason = _agreement(evidence, now_saying.get(order_id, {}), rules)
            if reason is None:
                result.kept.append(order_id)
            else:
                reasons[mismatch_subject(order_id)] = reason
        result.resolved = len(exceptions_resolve(kind=KIND, reasons=reasons, actor=actor))


def _outside(match, rule, now):
    return match.left_side.observed_at <= now - _window(rule)


def _ours(evidence):
    """Opened by this engine alone (a refused move's mismatch carries what the order "wanted")."""
    return evidence.get("source") == SOURCE and "wanted" not in evidence


def _open_mismatches(scope):
    """{order id: (subject, evidence)} of the open state_mismatch of the orders in scope (all: None)."""
    found = {}
    chunks = [None] if scope is None else [scope[i:i + CHUNK] for i in range(0, len(scope), CHUNK)]
    for chunk in chunks:
        cases = ExceptionCase.objects.filter(kind=KIND, status__in=OPEN_STATUSES, order__isnull=False)
        if chunk is not None:
            cases = cases.filter(order_id__in=chunk)
        for order_id, subject, evidence in cases.values_list("order_id", "subject_key", "evidence"):
            if subject == mismatch_subject(order_id):
                found[order_id] = (subject, evidence or {})
    return found


def _moment(value):
    return value.isoformat() if value else None


def _side_evidence(system, side):
    if side is None:
        return {"system": system, "reported": False}
    return {"system": system, "reported": True, "raw": side.raw, "canonical": side.state,
            "observed_at": _moment(side.observed_at), "total": None if side.total is None else str(side.total)}


def _evidence(broken, now):
    """Each system's word and each broken rule, as plain JSON (compared with what is stored)."""
    first = broken[0][0]
    systems, rules = {}, []
    for match, rule in broken:
        systems[match.left] = _side_evidence(match.left, match.left_side)
        systems[match.right] = _side_evidence(match.right, match.right_side)
        due = match.left_side.observed_at + _window(rule)
        rules.append({"id": rule.pk, "sentence": rule.sentence, "left": rule.left_system, "right": rule.right_system,
                      "window_minutes": rule.window_minutes, "since": _moment(match.left_side.observed_at),
                      "outside_since": _moment(due) if due <= now else None})
    return {"source": SOURCE, "order_state": first.order_state, "currency": first.currency,
            "systems": dict(sorted(systems.items())), "rules": rules}


def _summary(broken):
    match, rule = broken[0]
    more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
    return f"Order #{match.number}: {rule.sentence}{more}"


def _without_dismissed(raises, found, cases):
    """Leave out orders without an open mismatch whose last one a person dismissed after their
    systems last spoke: the disagreement was judged then; a new word from either system asks again."""
    new = [order_id for order_id, _, _ in raises if order_id not in cases]
    if not new:
        return raises
    dismissed = {}
    for i in range(0, len(new), CHUNK):
        for order_id, status, closed_at in (ExceptionCase.objects.filter(kind=KIND, order_id__in=new[i:i + CHUNK],
                                                                         closed_at__isnull=False)
                                            .order_by("closed_at").values_list("order_id", "status", "closed_at")):
            dismissed[order_id] = closed_at if status == ExceptionStatus.DISMISSED else None
    keep = []
    for order_id, evidence, summary in raises:
        spoke = max(s.received_at for m in found[order_id] for s in (m.left_side, m.right_side) if s is not None)
        if dismissed.get(order_id) is None or spoke > dismissed[order_id]:
            keep.append((order_id, evidence, summary))
    return keep


def _raise(raises, result, actor):
    if not raises:
        return
    customers = dict(Order.objects.filter(pk__in=[order_id for order_id, _, _ in raises])
                     .values_list("pk", "customer_id"))
    for i in range(0, len(raises), CHUNK):
        raised = exceptions_raise(kind=KIND, actor=actor, raises=[
            Raise(subject_key=mismatch_subject(order_id), summary=summary, evidence=evidence,
                  customer=customers[order_id], order=order_id)
            for order_id, evidence, summary in raises[i:i + CHUNK]])
        opened = sum(1 for _, was_opened in raised if was_opened)
        result.opened += opened
        result.updated += len(raised) - opened


def _word(system, side):
    name = SYSTEM_NAMES.get(system, system)
    if side is None:
        return f"{name} has no record of it"
    meaning = OrderState(side.state).label.lower() if side.state in OrderState.values else side.state
    return f"{name} says “{side.raw}” ({meaning})"


def _agreement(evidence, saying, rules):
    """Why the mismatch is over, or None while a system's status has no meaning to compare."""
    systems = sorted(evidence.get("systems") or {})
    if any(s in saying and saying[s].state is None for s in systems):
        return None
    names = " and ".join(SYSTEM_NAMES.get(s, s) for s in systems)
    compared = any({r.left_system, r.right_system} <= set(systems) for r in rules)
    words = "; ".join(_word(s, saying.get(s)) for s in systems)
    head = f"{names} agree again" if compared else f"No active tolerance rule compares {names} any more"
    return f"{head[:1].upper()}{head[1:]}: {words}"
