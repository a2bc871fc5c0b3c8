"""One chunk of an ERP import's orders: what each would do (the preview) or does (the apply), counted.

Both passes of an import (importing.py) and every applier of the second (applying.py) go through
here, so a preview, a small file and a large one judge each order the same way: a row kept as an
orphan that has nothing newer to say stays one; every other row becomes an observation of the shop's
order it names (records.py), which the domain applies (orders_observe) or foresees (orders_preview);
the ERP's record of each order is upserted with the outcome.
"""

from dataclasses import dataclass, field, fields

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.erp.errors import RowError
from integrations.erp.models import ErpImport, ErpImportError, ErpRecord
from integrations.erp.records import RECORD_FIELDS, event_ref, meaning_of, observation
from integrations.models import StoreConnection
from lifecycle.db import rows
from lifecycle.services.observations import orders_observe, orders_preview
from lifecycle.values import ObservationError, Outcome

ERRORS_AT_ONCE = 1_000  # row errors written together: memory stays flat however many a file has


@dataclass
class Tally:
    """What a batch counts (COUNTS, the batch's fields of the same names), as an applier adds them to
    its batch when it is not the only one (applying.py)."""

    orders_read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    orphans: int = 0


COUNTS = tuple(f.name for f in fields(Tally))


@dataclass
class Run:
    """One import's context, and what one reader or applier of it collects."""

    batch: ErpImport
    profile: str
    store: StoreConnection
    status_map: dict
    actor: object
    tally: object = None  # where its counts go: the batch itself (None), or an applier's own Tally
    errors: list = field(default_factory=list)  # row errors not yet written
    last_error_line: int = 0
    seen: set = field(default_factory=set)  # erp ids counted new in this file
    meanings: dict = field(default_factory=dict)  # raw status → its meaning under status_map, as met

    def __post_init__(self):
        if self.tally is None:
            self.tally = self.batch


def chunk_preview(run, chunk):
    """What each order of the chunk would do, counted (a dry run: nothing written but row errors)."""
    outcomes, observations, places, records = _observations(run, chunk)
    for i, outcome in zip(places, orders_preview(observations=observations)):
        outcomes[i] = outcome
    _count(run, chunk, outcomes, records)


def chunk_apply(run, chunk):
    """Apply the chunk in one transaction: the orders observed, the ERP's records kept, the row errors
    written, and the batch's counts moved by what the chunk counted (added, so that appliers working
    side by side each add their own)."""
    before = [getattr(run.tally, name) for name in COUNTS]
    outcomes, observations, places, records = _observations(run, chunk)
    with transaction.atomic():
        found, order_ids = [None] * len(observations), [None] * len(chunk)
        applied = orders_observe(observations=observations, order_ids=found)
        for i, outcome, order_id in zip(places, applied, found):
            outcomes[i], order_ids[i] = outcome, order_id
        _records_write(run, chunk, outcomes, order_ids)
        _count(run, chunk, outcomes, records)
        errors_flush(run)
        moved = {name: F(name) + getattr(run.tally, name) - was for name, was in zip(COUNTS, before)
                 if getattr(run.tally, name) != was}
        ErpImport.objects.filter(pk=run.batch.pk).update(**moved)


def _observations(run, chunk):
    """(outcomes with those decided here, observations of the rest, their places in the chunk, what is
    kept of each ERP id: (order id, store, shop order number, observed at))."""
    batch, profile, slug = run.batch, run.profile, run.store.slug
    records = {row[0]: row[1:] for row in rows.values_among(
        ErpRecord, ("erp_id", "order_id", "store_namespace", "shop_order_number", "observed_at"), "erp_id",
        list({p.erp_id for p in chunk}), namespace=profile)}
    outcomes, observations, places = [None] * len(chunk), [], []
    for i, parsed in enumerate(chunk):
        observed_at = parsed.observed_at or batch.started_at
        kept = records.get(parsed.erp_id)
        if kept is not None and kept[0] is None and kept[1:3] == (slug, parsed.shop_order_number) and (
                observed_at <= kept[3]):
            outcomes[i] = Outcome.ORPHAN  # still an orphan, and nothing newer to say about it
            continue
        meaning = run.meanings.get(parsed.raw_status)
        if meaning is None:
            meaning = run.meanings[parsed.raw_status] = meaning_of(parsed.raw_status, run.status_map)
        try:
            observations.append(observation(parsed, profile=profile, store_slug=slug, status_map=run.status_map,
                                            actor=run.actor, ref=event_ref(batch.pk, parsed.line),
                                            observed_at=observed_at, meaning=meaning))
            places.append(i)
        except ObservationError as error:
            row_error(run, RowError(parsed.line, None, "", f"{error.field}: {error.message}"))
            run.tally.orders_read -= 1
    return outcomes, observations, places, records


def _count(run, chunk, outcomes, records):
    tally = run.tally
    for parsed, outcome in zip(chunk, outcomes):
        if outcome == Outcome.APPLIED:
            first = parsed.erp_id not in records and parsed.erp_id not in run.seen
            tally.new, tally.updated = tally.new + first, tally.updated + (not first)
            run.seen.add(parsed.erp_id)
        elif outcome == Outcome.STALE:
            tally.unchanged += 1
        elif outcome in (Outcome.ORPHAN, Outcome.IGNORED):
            tally.orphans += 1  # an ignored one is a quotation or a draft the shop has not reported


def _records_write(run, chunk, outcomes, order_ids):
    """Upsert the ERP's record of each order the chunk applied (attached to the order: `order_ids`)
    or kept aside (the newest row per ERP id)."""
    records, now, batch = {}, timezone.now(), run.batch
    for parsed, outcome, order_id in zip(chunk, outcomes, order_ids):
        if outcome not in (Outcome.APPLIED, Outcome.ORPHAN, Outcome.IGNORED):
            continue
        if outcome != Outcome.APPLIED and parsed.erp_id in records and records[parsed.erp_id][-2]:
            continue  # a later orphan row of an ERP id does not detach what an earlier row attached
        records[parsed.erp_id] = (
            run.profile, parsed.erp_id, run.store.slug, parsed.shop_order_number, parsed.raw_status, parsed.total,
            parsed.currency, parsed.observed_at or batch.started_at, parsed.placed_at, parsed.customer_email or "",
            batch.pk, parsed.line, order_id, now)
    rows.upsert_values(ErpRecord, ("namespace", "erp_id", *RECORD_FIELDS), list(records.values()),
                       unique=("namespace", "erp_id"), update=RECORD_FIELDS)


def row_error(run, error):
    """Keep one row error (written with the next flush); a line with errors is one invalid line."""
    if error.line != run.last_error_line:
        run.tally.invalid += 1  # errors come in line order (reader.py): a new line is one more invalid line
        run.last_error_line = error.line
    run.errors.append(ErpImportError(erp_import=run.batch, line=error.line, column=(error.column or "")[:255],
                                     value=error.value, message=error.message))
    if len(run.errors) >= ERRORS_AT_ONCE:
        errors_flush(run)


def errors_flush(run):
    if run.errors:
        ErpImportError.objects.bulk_create(run.errors)
        run.errors = []
