"""The ERP drop folder: exports the ERP writes into ERP_DROP_DIR are imported by beat, once each.

    results = drop_folder_import()          # [(file name, "done" | "failed", message), ...]

- Each regular file directly in the folder is taken, except hidden and temporary files (".x", "x.tmp",
  "x.part", "x~", ...) and files still being written: modified in the last SETTLE_SECONDS, or whose
  size changed between two looks SIZE_LOOK_SECONDS apart. Subfolders (done/, failed/, processing/) are
  never read.
- Claimed first: the file is renamed into processing/ under a name of its own (one atomic rename), so
  two beat runs at once never import the same file; the run that loses the rename skips it.
- Imported with the detected profile, applied, invalid rows rejecting the whole file (erp_import), as
  the task "erp_drop_folder". Applied, or the same file (SHA-256) applied before: moved to done/.
  Rejected or failed: moved to failed/, and a sync_failure exception (subject "erp-drop:<file name>")
  says why, with the batch. A file of that name applied later resolves it. A name already in done/ or
  failed/ gets a suffix ("orders-1.csv"): nothing is overwritten.
- A file a crashed run left in processing/ stays there for a person to move back.
"""

import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings

from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise, exception_resolve

log = logging.getLogger(__name__)

ACTOR_NAME = "erp_drop_folder"
DONE, FAILED, PROCESSING = "done", "failed", "processing"
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
    ready = _ready_files(folder, time.time() if now is None else now, sleep)
    results = []
    for name in ready:
        claimed = _claim(folder, name)
        if claimed is not None:
            results.append(_import_one(folder, name, claimed))
    return results


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


def _import_one(folder, name, path):
    actor = Actor.task(ACTOR_NAME)
    batch, error = None, None
    try:
        with open(path, "rb") as file:
            batch = erp_import(file, filename=name, actor=actor, dry_run=False, skip_invalid=False)
    except Exception as exc:  # the batch is marked failed by erp_import; the file must not stay claimed
        log.exception("ERP drop folder: importing %s failed", name)
        error = exc
        batch = (ErpImport.objects.filter(filename=name[:255], actor_ref=actor.ref)
                 .order_by("-pk").first())
    if error is None and batch.state == S.APPLIED:
        moved = _move(path, folder / DONE, name)
        exception_resolve(kind=ExceptionKind.SYNC_FAILURE, subject_key=drop_subject(name), actor=actor,
                          reason=f"ERP import #{batch.pk} applied {name} from the drop folder.")
        message = f"{batch.message} Moved to {DONE}/{moved.name}."
        log.info("ERP drop folder: %s: %s", name, message)
        return name, DONE, message
    moved = _move(path, folder / FAILED, name)
    reason = (batch.message if error is None
              else f"the import stopped with an error ({type(error).__name__}: {error})".rstrip(": "))
    batch_ref = f"ERP import #{batch.pk}" if batch is not None else "no batch"
    exception_raise(
        kind=ExceptionKind.SYNC_FAILURE, subject_key=drop_subject(name), actor=actor,
        summary=f"The ERP drop folder's file {name} was not imported ({batch_ref}): {reason}",
        evidence={"file": name, "moved_to": f"{FAILED}/{moved.name}", "batch": batch.pk if batch else None,
                  "state": batch.state if batch else None, "reason": reason,
                  "sha256": batch.sha256 if batch else None})
    message = f"Not imported: {reason} Moved to {FAILED}/{moved.name}."
    log.warning("ERP drop folder: %s: %s", name, message)
    return name, FAILED, message


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
