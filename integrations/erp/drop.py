"""The ERP drop folder: exports the ERP writes into ERP_DROP_DIR are imported by beat, once each.

    results = drop_folder_import()          # [(file name, "done" | "failed", message), ...]

- Each regular file directly in the folder is taken, except hidden and temporary files (".x", "x.tmp",
  "x.part", "x~", ...) and files still being written: modified in the last SETTLE_SECONDS, or whose
  size changed between two looks SIZE_LOOK_SECONDS apart. Subfolders (done/, failed/, processing/) are
  never read.
- Claimed first: the file is renamed into processing/ under a name of its own (one atomic rename), so
  two beat runs at once never import the same file; the run that loses the rename skips it.
- Imported with the detected profile, applied, as the task "erp_drop_folder". Invalid rows reject the
  whole file (erp_import's default), unless ERP_DROP_SKIP_INVALID is set: then the valid rows are
  applied and the invalid ones stay listed on the batch, for download with their errors, and open the
  file's sync_failure. Applied, or the same file (SHA-256) applied before: moved to done/. Rejected or
  failed: moved to failed/, and a sync_failure exception (subject "erp-drop:<file name>") says why,
  with the batch. A file of that name applied in full later resolves it. A name already in done/ or
  failed/ gets a suffix ("orders-1.csv"): nothing is overwritten.
- The run importing a file holds a lock on it (flock; the kernel releases it when the process dies).
  A file in processing/ that nobody holds, claimed over RECLAIM_SECONDS ago, was left by a run that
  died (a worker killed mid-file): its batch is marked failed and the file is imported again, once
  (applied chunks are not applied twice: the stale rule sees them as unchanged). Left a second time, it
  moves to failed/ with a sync_failure saying so.
"""

import fcntl
import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise, exception_resolve

log = logging.getLogger(__name__)

ACTOR_NAME = "erp_drop_folder"
DONE, FAILED, PROCESSING = "done", "failed", "processing"
AGAIN = "again-"  # the claim name of a file taken again after a run died importing it
RECLAIM_SECONDS = 60  # a claim younger than this may not hold its lock yet
SETTLE_SECONDS = 5  # a file modified more recently may still be being written
SIZE_LOOK_SECONDS = 1.0  # between the two looks at a file's size
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", "~")
S = ErpImport.State


def drop_subject(name):
    return f"erp-drop:{name}"


def drop_folder_import(folder=None, *, now=None, sleep=time.sleep):
    """Import every finished file in the drop folder (default ERP_DROP_DIR; unset: nothing to do).
    Returns [(file name, "done" or "failed", message)] for the files taken."""
    folder = folder if folder is not None else getattr(settings, "ERP_DROP_DIR", None)
    if not folder:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        log.warning("ERP_DROP_DIR %s is not a folder: nothing imported.", folder)
        return []
    now = time.time() if now is None else now
    results = []
    for name, path, file in _left_by_dead_runs(folder, now, results):
        results.append(_import_one(folder, name, path, file))
    for name in _ready_files(folder, now, sleep):
        claimed = _claim(folder, name)
        file = _hold(claimed) if claimed is not None else None
        if file is not None:
            results.append(_import_one(folder, name, claimed, file))
    return results


def _hold(path):
    """The file opened and locked for this run, or None when another run holds it (or it is gone)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by _import_one
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        return None
    return file


def _left_by_dead_runs(folder, now, results):
    """[(file name, path, locked file)] of the files in processing/ whose run died: each taken again
    once (renamed AGAIN...), its interrupted batch marked failed; one left twice goes to failed/ (its
    outcome added to `results`)."""
    taken = []
    if not (folder / PROCESSING).is_dir():
        return taken
    for path in sorted((folder / PROCESSING).iterdir()):
        try:
            if not path.is_file() or now - path.stat().st_ctime < RECLAIM_SECONDS:
                continue  # just claimed: its run may not hold the lock yet
        except FileNotFoundError:
            continue
        file = _hold(path)
        if file is None:
            continue  # a live run imports it
        again = path.name.startswith(AGAIN)
        name = path.name.removeprefix(AGAIN)[13:]  # the claim's "<12 hex>-" prefix
        _interrupted(name)
        if again:
            file.close()
            why = "its import was interrupted twice (the worker importing it stopped); drop it again once the workers run"
            results.append(_failed(folder, name, path, None, why))
            continue
        retried = path.with_name(f"{AGAIN}{path.name}")
        os.rename(path, retried)  # the lock stays with the open file
        log.warning("ERP drop folder: %s was left in %s/ by a run that stopped; importing it again", name,
                    PROCESSING)
        taken.append((name, retried, file))
    return taken


def _interrupted(name):
    ErpImport.objects.filter(filename=name[:255], actor_ref=ACTOR_NAME, state=S.RUNNING).update(
        state=S.FAILED, phase="", finished_at=timezone.now(),
        message="Interrupted: the worker importing it stopped. The drop folder takes the file again.")


def _ready_files(folder, now, sleep):
    sizes = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.is_file(follow_symlinks=False) or _temporary(entry.name):
                continue
            stat = entry.stat(follow_symlinks=False)
            if now - stat.st_mtime < SETTLE_SECONDS:
                continue  # still being written, perhaps: the next run takes it
            sizes[entry.name] = stat.st_size
    if not sizes:
        return []
    sleep(SIZE_LOOK_SECONDS)
    ready = []
    for name, size in sorted(sizes.items()):
        try:
            if os.stat(folder / name, follow_symlinks=False).st_size == size:
                ready.append(name)
        except FileNotFoundError:
            pass  # taken by another run, or removed
    return ready


def _temporary(name):
    return name.startswith((".", "~")) or name.lower().endswith(TEMPORARY_SUFFIXES)


def _claim(folder, name):
    """Rename the file into processing/ (atomic): the path it now has, or None if another run took it."""
    (folder / PROCESSING).mkdir(exist_ok=True)
    claimed = folder / PROCESSING / f"{uuid.uuid4().hex[:12]}-{name}"
    try:
        os.rename(folder / name, claimed)
    except FileNotFoundError:
        return None
    return claimed


def _import_one(folder, name, path, file):
    actor = Actor.task(ACTOR_NAME)
    batch, error = None, None
    skip_invalid = bool(getattr(settings, "ERP_DROP_SKIP_INVALID", False))
    with file:  # locked until moved
        try:
            batch = erp_import(file, filename=name, actor=actor, dry_run=False, skip_invalid=skip_invalid)
        except Exception as exc:  # the batch is marked failed by erp_import; the file must not stay claimed
            log.exception("ERP drop folder: importing %s failed", name)
            error = exc
            batch = (ErpImport.objects.filter(filename=name[:255], actor_ref=actor.ref)
                     .order_by("-pk").first())
        if error is None and batch.state == S.APPLIED:
            return _done(folder, name, path, batch, actor)
        reason = (batch.message if error is None
                  else f"the import stopped with an error ({type(error).__name__}: {error})".rstrip(": "))
        return _failed(folder, name, path, batch, reason)


def _done(folder, name, path, batch, actor):
    moved = _move(path, folder / DONE, name)
    message = f"{batch.message} Moved to {DONE}/{moved.name}."
    if batch.invalid:  # ERP_DROP_SKIP_INVALID: the valid rows applied, the others wait for a person
        _raise(name, batch, f"The ERP drop folder's file {name} was applied without its {batch.invalid} invalid "
                            f"rows (ERP import #{batch.pk}: its invalid rows are listed there, for download "
                            f"with their errors)", batch.message, f"{DONE}/{moved.name}")
    else:
        exception_resolve(kind=ExceptionKind.SYNC_FAILURE, subject_key=drop_subject(name), actor=actor,
                          reason=f"ERP import #{batch.pk} applied {name} from the drop folder.")
    log.info("ERP drop folder: %s: %s", name, message)
    return name, DONE, message


def _failed(folder, name, path, batch, reason):
    moved = _move(path, folder / FAILED, name)
    batch_ref = f"ERP import #{batch.pk}" if batch is not None else "no batch"
    _raise(name, batch, f"The ERP drop folder's file {name} was not imported ({batch_ref}): {reason}", reason,
           f"{FAILED}/{moved.name}")
    message = f"Not imported: {reason} Moved to {FAILED}/{moved.name}."
    log.warning("ERP drop folder: %s: %s", name, message)
    return name, FAILED, message


def _raise(name, batch, summary, reason, moved_to):
    exception_raise(
        kind=ExceptionKind.SYNC_FAILURE, subject_key=drop_subject(name), actor=Actor.task(ACTOR_NAME),
        summary=summary,
        evidence={"file": name, "moved_to": moved_to, "batch": batch.pk if batch else None,
                  "state": batch.state if batch else None, "reason": reason,
                  "sha256": batch.sha256 if batch else None})


def _move(path, target_dir, name):
    """Move `path` into target_dir as `name`, or `name-1`, `name-2`, ... if taken: never overwrites."""
    target_dir.mkdir(exist_ok=True)
    stem, suffix = os.path.splitext(name)
    for n in range(10_000):
        target = target_dir / (name if n == 0 else f"{stem}-{n}{suffix}")
        try:
            os.link(path, target)  # fails if the name exists: no overwrite, no race
        except FileExistsError:
            continue
        except OSError:  # a filesystem without hard links
            if target.exists():
                continue
            os.rename(path, target)
            return target
        os.unlink(path)
        return target
    raise FileExistsError(f"no free name for {name} in {target_dir}")
