"""Bringing an ERP export in: the batch, its preview, and its effect on the domain.

    batch = erp_import(file, filename="orders.csv", actor=actor)                  # a preview (dry run)
    batch = erp_import(file, filename="orders.csv", actor=actor, dry_run=False)   # apply it
    batch.state, batch.new, batch.updated, batch.unchanged, batch.invalid, batch.orphans, batch.errors

- Streamed: the file is parsed once, one order at a time (reader.py). The first pass reads and checks
  every row, keeping each row error on the batch (line, column, value, message) and the facts of each
  valid order aside (checked.py: a temporary file, flat memory); the second applies those orders,
  CHUNK per transaction, through the domain's one path for order facts
  (lifecycle.services.observations.orders_observe; records.py builds the observations): the stale
  rule, the state graph, unmapped statuses and mismatches are the domain's, as for the shop.
- A dry run is the preview: the first pass also asks the domain what each order would do
  (orders_preview), so the counts are the apply's; only the batch (and its errors) is written.
- By default a file with invalid rows is rejected whole: nothing applied, the errors kept. With
  skip_invalid the valid orders are applied and the invalid ones stay listed on the batch
  (errors_csv writes them for download). A file refused whole (not CSV, a required column missing,
  no store to match its numbers) is a rejected batch with that one message.
- Idempotent: the same file (SHA-256) applied before is not read again; the batch says which import
  applied it, and counts everything unchanged. Any other file's rows are judged by the stale rule: a
  row not newer than the ERP's stored word changes nothing (and an orphan's record, not newer than
  the row kept for it, is not raised again).
- Provenance: each ERP source state the import sets names it and the line (event_ref
  "erp-import:<id>/<line>"), as does the ERP's record of the order (ErpRecord.erp_import, line).
Counts: new (the ERP's first word on that order), updated, unchanged (not newer), invalid (lines with
a row error), orphans (orders the shop has not reported: kept as records, each owned by an "ERP only"
state_mismatch).
"""

import csv
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.erp.checked import CheckedOrders
from integrations.erp.errors import ErpFileError, RowError
from integrations.erp.models import ErpImport, ErpImportError, ErpRecord, ErpSettings
from integrations.erp.reader import read_orders
from integrations.erp.records import RECORD_FIELDS, event_ref, import_actor, observation
from integrations.erp.status_mappings import erp_status_map
from integrations.models import StoreConnection
from lifecycle.db import rows
from lifecycle.services.errors import PermissionDenied
from lifecycle.services.observations import orders_observe, orders_preview
from lifecycle.services.reconcile import reconcile_soon
from lifecycle.values import ObservationError, Outcome

CHUNK = 1_000  # orders per transaction: locks held briefly, statements of a size both databases take
PROGRESS_LINES = 1_000  # a progress callback every this many lines read
S = ErpImport.State


@dataclass
class _Run:
    """One import's reading context and what it collects."""

    batch: ErpImport
    profile: str
    store: StoreConnection
    status_map: dict
    actor: object
    errors: list = field(default_factory=list)  # row errors not yet written
    last_error_line: int = 0
    seen: set = field(default_factory=set)  # erp ids counted new in this file
    checked: CheckedOrders | None = None  # the valid orders the first pass keeps for the apply


def erp_import(fileobj, *, filename, actor, profile=None, dry_run=True, skip_invalid=False, progress=None,
               batch=None):
    """Read (and unless dry_run, apply) one ERP export; returns its ErpImport. `fileobj`: binary.
    `progress(batch, phase, line)`: called every PROGRESS_LINES lines of each pass ("reading",
    "applying"), when the batch's own progress (phase, percent, counts) is saved for its page.
    `batch`: the queued ErpImport to run as (erp_import_queue made it), else a new one. Needs the
    permission to add ERP imports."""
    if not actor.has_perm("erp.add_erpimport"):
        raise PermissionDenied("Only operations can import ERP exports.")
    fileobj = _seekable(fileobj)
    sha256, size = _digest(fileobj)
    fields = {"filename": str(filename)[:255], "sha256": sha256, "size": size, "dry_run": dry_run,
              "skip_invalid": skip_invalid, "created_by": actor.user if actor.is_user else None,
              "actor_ref": actor.ref[:200]}
    if batch is None:
        batch = ErpImport.objects.create(**fields)
    else:
        for name, value in fields.items():
            setattr(batch, name, value)
        batch.state, batch.started_at = S.RUNNING, timezone.now()
    started = time.monotonic()
    told = progress or (lambda *args: None)

    def tell(batch, phase, line):
        _progress_save(batch, phase, fileobj if phase == "reading" else None, line)
        told(batch, phase, line)

    try:
        _import(batch, fileobj, actor, profile, tell)
    except Exception as error:
        batch.state = S.FAILED
        batch.message = (f"Stopped by an error ({type(error).__name__}) after {batch.lines_read} lines; "
                         "the chunks before it are applied. Importing the file again applies the rest.")
        _finish(batch, started)
        raise
    _finish(batch, started)
    return batch


def _import(batch, fileobj, actor, profile, progress):
    previous = (ErpImport.objects.filter(sha256=batch.sha256, state=S.APPLIED, duplicate_of__isnull=True)
                .exclude(pk=batch.pk).order_by("started_at", "pk").first())
    if previous is not None:
        return _already_applied(batch, previous)
    by_profile = {s.profile: s for s in ErpSettings.objects.select_related("store")}
    options = {"column_overrides": {key: s.column_overrides for key, s in by_profile.items() if s.column_overrides},
               "time_zone": timezone.get_default_timezone()}
    run = None
    try:
        reading = read_orders(fileobj, profile=profile, **options)
        header = reading.header
        batch.profile, batch.profile_detected, batch.profile_reason = (
            header.profile.key, header.detected, header.reason)
        batch.store = _store(by_profile.get(header.profile.key))
        run = _Run(batch, header.profile.key, batch.store, erp_status_map(header.profile.key),
                   import_actor(batch.pk, actor.user), checked=None if batch.dry_run else CheckedOrders(CHUNK))
        _read(run, reading, progress)
    except ValueError as error:  # ErpFileError (the file refused whole), or a profile that does not exist
        if not isinstance(error, ErpFileError) and batch.profile:
            raise
        if run is not None:
            _errors_flush(run)  # the row errors before a file turns out unreadable (a binary tail) stay listed
            if run.checked is not None:
                run.checked.close()
        batch.state, batch.message = S.REJECTED, getattr(error, "message", str(error))
        return
    if batch.dry_run:
        batch.state, batch.message = S.PREVIEWED, _preview_message(batch)
    elif batch.invalid and not batch.skip_invalid:
        run.checked.close()
        batch.state = S.REJECTED
        batch.message = (f"{_lines(batch.invalid)} invalid, so nothing was imported. Correct them, or import "
                         f"with “skip invalid rows” to apply the {_orders(batch.orders_read, 'valid ')}.")
    else:
        _apply(run, progress)
        batch.state = S.APPLIED
        if batch.new or batch.updated:
            reconcile_soon()
        skipped = f" {_lines(batch.invalid)} invalid and skipped." if batch.invalid else ""
        batch.message = f"Applied {_orders(batch.orders_read)}.{skipped}"


def _orders(n, kind=""):
    return f"{n} {kind}order" + ("" if n == 1 else "s")


def _read(run, reading, progress):
    """The first pass: every row read and checked, errors kept, valid orders kept for the apply; in a
    dry run, the outcomes foreseen instead."""
    batch, chunk, next_progress = run.batch, [], PROGRESS_LINES
    for item in reading:
        if isinstance(item, RowError):
            _row_error(run, item)
            batch.lines_read = max(batch.lines_read, item.line)
        else:
            batch.orders_read += 1
            batch.lines_read = max(batch.lines_read, item.line + item.rows - 1)
            if run.checked is not None:
                run.checked.add(item)
            else:
                chunk.append(item)
                if len(chunk) == CHUNK:
                    _chunk(run, chunk, apply=False)
                    chunk = []
        if batch.lines_read >= next_progress:
            next_progress = batch.lines_read + PROGRESS_LINES
            progress(batch, "reading", batch.lines_read)
    if chunk:
        _chunk(run, chunk, apply=False)
    _errors_flush(run)


def _apply(run, progress):
    """The second pass: the valid orders the first kept, applied a chunk per transaction, the batch's
    counts saved with each."""
    next_progress = PROGRESS_LINES
    for chunk in run.checked.chunks():
        _chunk(run, chunk, apply=True)
        line = chunk[-1].line
        if line >= next_progress:
            next_progress = line + PROGRESS_LINES
            progress(run.batch, "applying", line)


def _chunk(run, chunk, *, apply):
    """What each order of the chunk does (apply: does), counted on the batch."""
    batch, profile, slug = run.batch, run.profile, run.store.slug
    # What is kept of each: (order id, store, shop order number, observed at), by ERP id.
    records = {row[0]: row[1:] for row in ErpRecord.objects.filter(
        namespace=profile, erp_id__in={p.erp_id for p in chunk}).values_list(
        "erp_id", "order_id", "store_namespace", "shop_order_number", "observed_at")}
    outcomes, observations, places = [None] * len(chunk), [], []
    for i, parsed in enumerate(chunk):
        observed_at = parsed.observed_at or batch.started_at
        kept = records.get(parsed.erp_id)
        if kept is not None and kept[0] is None and kept[1:3] == (slug, parsed.shop_order_number) and (
                observed_at <= kept[3]):
            outcomes[i] = Outcome.ORPHAN  # still an orphan, and nothing newer to say about it
            continue
        try:
            observations.append(observation(parsed, profile=profile, store_slug=slug, status_map=run.status_map,
                                            actor=run.actor, ref=event_ref(batch.pk, parsed.line),
                                            observed_at=observed_at))
            places.append(i)
        except ObservationError as error:
            _row_error(run, RowError(parsed.line, None, "", f"{error.field}: {error.message}"))
            batch.orders_read -= 1
    if not apply:
        for i, outcome in zip(places, orders_preview(observations=observations)):
            outcomes[i] = outcome
        _count(run, chunk, outcomes, records)
        return
    with transaction.atomic():
        found, order_ids = [None] * len(observations), [None] * len(chunk)
        applied = orders_observe(observations=observations, order_ids=found)
        for i, outcome, order_id in zip(places, applied, found):
            outcomes[i], order_ids[i] = outcome, order_id
        _records_write(run, chunk, outcomes, order_ids)
        _count(run, chunk, outcomes, records)
        _errors_flush(run)
        batch.save(update_fields=["lines_read", "orders_read", "new", "updated", "unchanged", "invalid", "orphans"])


def _count(run, chunk, outcomes, records):
    batch = run.batch
    for parsed, outcome in zip(chunk, outcomes):
        if outcome == Outcome.APPLIED:
            first = parsed.erp_id not in records and parsed.erp_id not in run.seen
            batch.new, batch.updated = batch.new + first, batch.updated + (not first)
            run.seen.add(parsed.erp_id)
        elif outcome == Outcome.STALE:
            batch.unchanged += 1
        elif outcome in (Outcome.ORPHAN, Outcome.IGNORED):
            batch.orphans += 1  # an ignored one is a quotation or a draft the shop has not reported


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


def _row_error(run, error):
    batch = run.batch
    if error.line != run.last_error_line:
        batch.invalid += 1  # errors come in line order (reader.py): a new line is one more invalid line
        run.last_error_line = error.line
    run.errors.append(ErpImportError(erp_import=batch, line=error.line, column=(error.column or "")[:255],
                                     value=error.value, message=error.message))
    if len(run.errors) >= CHUNK:
        _errors_flush(run)


def _errors_flush(run):
    if run.errors:
        ErpImportError.objects.bulk_create(run.errors)
        run.errors = []


def _store(settings):
    """The store whose order numbers the ERP carries: the profile's setting, else the only store."""
    if settings is not None and settings.store_id:
        return settings.store
    stores = list(StoreConnection.objects.order_by("pk")[:2])
    if len(stores) == 1:
        return stores[0]
    if not stores:
        raise ErpFileError("No store is connected, so the ERP's orders have no shop orders to match; "
                           "nothing was imported. Connect the store first.")
    raise ErpFileError("Several stores are connected: choose in the profile's ERP settings which store's "
                       "order numbers the ERP carries; nothing was imported.")


def _already_applied(batch, previous):
    for name in ("profile", "profile_detected", "profile_reason", "store_id", "lines_read", "orders_read", "invalid"):
        setattr(batch, name, getattr(previous, name))
    batch.duplicate_of = previous
    batch.unchanged = previous.new + previous.updated + previous.unchanged + previous.orphans
    batch.state = S.PREVIEWED if batch.dry_run else S.APPLIED
    batch.message = (f"This file was applied before, as ERP import #{previous.pk} on "
                     f"{timezone.localtime(previous.started_at):%Y-%m-%d %H:%M}: "
                     f"{'applying it again would change' if batch.dry_run else 'importing it again changed'} nothing.")


def _preview_message(batch):
    if batch.invalid and not batch.skip_invalid:
        return (f"{_lines(batch.invalid)} invalid: applying would reject the whole file, unless the invalid rows "
                "are skipped.")
    return "Nothing is applied until the import is confirmed."


def _lines(count):
    return f"{count} line{'s are' if count != 1 else ' is'}"


def _progress_save(batch, phase, fileobj, line):
    """Save how far the import is, for its page (polled while it runs in the background): the phase,
    a percent (of the bytes while reading, of the lines read while applying) and the counts so far."""
    if fileobj is not None:
        done = fileobj.tell() / batch.size if batch.size else 0
    else:
        done = line / batch.lines_read if batch.lines_read else 0
    batch.phase, batch.percent = phase, min(99, int(done * 100))  # 100 only when it has finished
    ErpImport.objects.filter(pk=batch.pk).update(
        phase=batch.phase, percent=batch.percent, lines_read=batch.lines_read, orders_read=batch.orders_read,
        invalid=batch.invalid, profile=batch.profile, profile_reason=batch.profile_reason)


def _finish(batch, started):
    batch.phase, batch.percent = "", 100
    batch.finished_at = timezone.now()
    batch.duration = timedelta(seconds=time.monotonic() - started)
    batch.save()


def _seekable(fileobj):
    """The file, or a spooled copy when it cannot be read twice (a pipe)."""
    if getattr(fileobj, "seekable", lambda: False)():
        return fileobj
    copy = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)  # in memory up to 16 MB, then on disk
    shutil.copyfileobj(fileobj, copy)
    copy.seek(0)
    return copy


def _digest(fileobj):
    """(SHA-256 hex, size) of the whole file, read in blocks; the file is left at its start."""
    digest, size = hashlib.sha256(), 0
    fileobj.seek(0)
    while block := fileobj.read(2**20):
        digest.update(block)
        size += len(block)
    fileobj.seek(0)
    return digest.hexdigest(), size


def errors_csv(erp_import, out):
    """Write an import's row errors as CSV (text stream `out`): line, column, value and the error."""
    writer = csv.writer(out)
    writer.writerow(["line", "column", "value", "error"])
    for line, column, value, message in erp_import.errors.order_by("line", "id").values_list(
            "line", "column", "value", "message").iterator(chunk_size=2_000):
        writer.writerow([line, column, value, message])
