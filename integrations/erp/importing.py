"""Bringing an ERP export in: the batch, its preview, and its effect on the domain.

    batch = erp_import(file, filename="orders.csv", actor=actor)                  # a preview (dry run)
    batch = erp_import(file, filename="orders.csv", actor=actor, dry_run=False)   # apply it
    batch.state, batch.new, batch.updated, batch.unchanged, batch.invalid, batch.orphans, batch.errors

- Streamed: the file is parsed once, one order at a time (reader.py). The first pass reads and checks
  every row (a large file's shared with a helper process, helper.py), keeping each row error on the
  batch (line, column, value, message) and the facts of each valid order aside (checked.py: a
  temporary file, flat memory); the second applies those orders,
  CHUNK per transaction (chunks.py; a large file by two appliers side by side, applying.py), through
  the domain's one path for order facts (lifecycle.services.observations.orders_observe; records.py
  builds the observations): the stale rule, the state graph, unmapped statuses and mismatches are the
  domain's, as for the shop.
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

import contextlib
import csv
import gc
import hashlib
import shutil
import tempfile
import threading
import time
from datetime import timedelta

from django.utils import timezone

from integrations.erp.applying import apply_checked
from integrations.erp.checked import CheckedOrders
from integrations.erp.chunks import COUNTS, Run, chunk_preview, errors_flush, row_error
from integrations.erp.errors import ErpFileError, RowError
from integrations.erp.helper import HelperShare, read_shared
from integrations.erp.models import ErpImport, ErpSettings
from integrations.erp.reader import read_orders
from integrations.erp.records import import_actor
from integrations.erp.status_mappings import erp_status_map
from integrations.models import StoreConnection
from lifecycle.services.errors import PermissionDenied
from lifecycle.services.reconcile import reconcile_soon

YOUNG_COLLECTION = 50_000  # new objects between two of the cycle collector's young collections, during an import
CHUNK = 1_000  # orders per transaction: locks held briefly, statements of a size both databases take
PROGRESS_LINES = 1_000  # a progress callback every this many lines read
S = ErpImport.State


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
        with _fewer_collections():
            _import(batch, fileobj, actor, profile, tell)
    except Exception as error:
        applying = batch.phase == "applying"
        batch.state = S.FAILED
        batch.message = (f"Stopped by an error ({type(error).__name__}) after {batch.lines_read} lines; " + (
            "the chunks before it are applied. Importing the file again applies the rest." if applying else
            "nothing was applied. Importing the file again starts over."))
        _finish(batch, started)
        raise
    _finish(batch, started)
    return batch


_collections = {"imports": 0, "threshold": None, "froze": False, "lock": threading.Lock()}


@contextlib.contextmanager
def _fewer_collections():
    """Python's cycle collector, while imports run, neither walks what existed before (frozen) nor
    starts a young collection every 700 objects: an import makes a few hundred thousand short-lived
    instances, and collecting after each few hundred was a tenth of its CPU. Restored when the last
    import running in the process ends; a process that froze objects itself keeps them frozen."""
    with _collections["lock"]:
        _collections["imports"] += 1
        if _collections["imports"] == 1:
            _collections["threshold"] = threshold = gc.get_threshold()
            _collections["froze"] = not gc.get_freeze_count()
            if _collections["froze"]:
                gc.freeze()
            gc.set_threshold(max(threshold[0], YOUNG_COLLECTION), *threshold[1:])
    try:
        yield
    finally:
        with _collections["lock"]:
            _collections["imports"] -= 1
            if not _collections["imports"]:
                gc.set_threshold(*_collections["threshold"])
                if _collections["froze"]:
                    gc.unfreeze()


def _import(batch, fileobj, actor, profile, progress):
    previous = (ErpImport.objects.filter(sha256=batch.sha256, state=S.APPLIED, duplicate_of__isnull=True)
                .exclude(pk=batch.pk).order_by("started_at", "pk").first())
    if previous is not None:
        return _already_applied(batch, previous)
    by_profile = {s.profile: s for s in ErpSettings.objects.select_related("store")}
    options = {"column_overrides": {key: s.column_overrides for key, s in by_profile.items() if s.column_overrides},
               "time_zone": timezone.get_default_timezone()}
    run = checked = None
    try:
        reading = read_orders(fileobj, profile=profile, **options)
        header = reading.header
        batch.profile, batch.profile_detected, batch.profile_reason = (
            header.profile.key, header.detected, header.reason)
        batch.store = _store(by_profile.get(header.profile.key))
        run = Run(batch, header.profile.key, batch.store, erp_status_map(header.profile.key),
                  import_actor(batch.pk, actor.user))
        checked = None if batch.dry_run else CheckedOrders(CHUNK)
        side_by_side = _read(run, reading, checked, progress)
    except ValueError as error:  # ErpFileError (the file refused whole), or a profile that does not exist
        if not isinstance(error, ErpFileError) and batch.profile:
            raise
        if run is not None:
            errors_flush(run)  # the row errors before a file turns out unreadable (a binary tail) stay listed
            if checked is not None:
                checked.close()
        batch.state, batch.message = S.REJECTED, getattr(error, "message", str(error))
        return
    if batch.dry_run:
        batch.state, batch.message = S.PREVIEWED, _preview_message(batch)
    elif batch.invalid and not batch.skip_invalid:
        checked.close()
        batch.state = S.REJECTED
        batch.message = (f"{_lines(batch.invalid)} invalid, so nothing was imported. Correct them, or import "
                         f"with “skip invalid rows” to apply the {_orders(batch.orders_read, 'valid ')}.")
    else:
        _apply(run, checked, side_by_side, progress)
        batch.state = S.APPLIED
        if batch.new or batch.updated:
            reconcile_soon()
        skipped = f" {_lines(batch.invalid)} invalid and skipped." if batch.invalid else ""
        batch.message = f"Applied {_orders(batch.orders_read)}.{skipped}"


def _orders(n, kind=""):
    return f"{n} {kind}order" + ("" if n == 1 else "s")


def _read(run, reading, checked, progress):
    """The first pass: every row read and checked, errors kept, valid orders kept for the apply
    (`checked`; a large file's shared with a helper, helper.py); in a dry run (None), the outcomes
    foreseen instead. Returns whether the apply may run side by side: not when an ERP id names two
    shop orders (applying.py)."""
    batch, chunk, next_progress, numbers, side_by_side = run.batch, [], PROGRESS_LINES, {}, True

    def one_order(erp_id, number):  # the ERP id has named this shop order only, so far
        return numbers.setdefault(erp_id, number) == number

    for item in (reading if checked is None else read_shared(reading, CHUNK)):
        if isinstance(item, RowError):
            row_error(run, item)
            batch.lines_read = max(batch.lines_read, item.line)
        elif isinstance(item, HelperShare):
            for error in item.errors:
                row_error(run, error)
            batch.orders_read += item.orders
            batch.lines_read = max(batch.lines_read, item.last_line)
            checked.adopt(item.kept)
            for erp_id, number in item.numbers:
                side_by_side = side_by_side and one_order(erp_id, number)
        else:
            batch.orders_read += 1
            batch.lines_read = max(batch.lines_read, item.line + item.rows - 1)
            if checked is not None:
                checked.add(item)
                side_by_side = side_by_side and one_order(item.erp_id, item.shop_order_number)
            else:
                chunk.append(item)
                if len(chunk) == CHUNK:
                    chunk_preview(run, chunk)
                    chunk = []
        if batch.lines_read >= next_progress:
            next_progress = batch.lines_read + PROGRESS_LINES
            progress(batch, "reading", batch.lines_read)
    if chunk:
        chunk_preview(run, chunk)
    errors_flush(run)
    return side_by_side


def _apply(run, checked, side_by_side, progress):
    """The second pass: the valid orders the first kept, applied a chunk per transaction (applying.py),
    each adding its counts to the batch's, saved first as the first pass left them."""
    run.batch.phase = "applying"
    run.batch.save(update_fields=["phase", "lines_read", *COUNTS])
    next_progress = PROGRESS_LINES

    def applied_to(line):
        nonlocal next_progress
        if line >= next_progress:
            next_progress = line + PROGRESS_LINES
            progress(run.batch, "applying", line)

    apply_checked(run, checked, CHUNK, applied_to, side_by_side)


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
    a percent (of the bytes while reading, of the lines read while applying) and, while reading, the
    counts so far (while applying, each chunk adds its own as it commits)."""
    if fileobj is not None:
        done = fileobj.tell() / batch.size if batch.size else 0
    else:
        done = line / batch.lines_read if batch.lines_read else 0
    batch.phase, batch.percent = phase, min(99, int(done * 100))  # 100 only when it has finished
    counts = {"lines_read": batch.lines_read, "orders_read": batch.orders_read, "invalid": batch.invalid,
              "profile": batch.profile, "profile_reason": batch.profile_reason} if phase == "reading" else {}
    ErpImport.objects.filter(pk=batch.pk).update(phase=batch.phase, percent=batch.percent, **counts)


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
