"""An export uploaded in the admin: kept between its preview and its confirmation, and imported now
or in the background depending on its size.

    path = upload_keep(uploaded_file)                     # VAR_DIR/erp-uploads/<sha256>
    batch = erp_import_queue(path, filename=..., actor=..., dry_run=True)

- A small file is read in the request: its preview is there at once. A file of BACKGROUND_BYTES or
  more is read by the worker (tasks.import_erp_upload): the batch is created "queued" and its page
  shows the phase, percent and counts as the import saves them (importing._progress_save).
- The file stays under VAR_DIR/erp-uploads/ until it is applied or refused; an upload nobody
  confirmed is deleted KEEP_SECONDS after it was last written (every upload sweeps the folder).
"""

import hashlib
import os
import re
import tempfile
import time

from django.conf import settings
from django.db import transaction

from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport
from lifecycle.services.errors import PermissionDenied

UPLOADS = "erp-uploads"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# ~4 MB is some 20,000 rows of an ERPNext export with its line rows: read in the request (about two
# seconds) below it, on the worker from it, where a request would time out and a page stay blank.
BACKGROUND_BYTES = 4 * 2**20
KEEP_SECONDS = 24 * 3600  # a preview confirmed the next morning still finds its file


def upload_dir():
    path = settings.VAR_DIR / UPLOADS
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(sha256):
    """The kept upload of that hash, or None when the hash is not one (nothing outside the folder is read)."""
    return upload_dir() / sha256 if SHA256.match(sha256 or "") else None


def upload_keep(uploaded):
    """Write an uploaded file (Django's UploadedFile) to VAR_DIR/erp-uploads/<sha256>; returns that path.
    Deletes the uploads kept longer than KEEP_SECONDS on the way."""
    directory, digest = upload_dir(), hashlib.sha256()
    uploads_clean(directory)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in uploaded.chunks():
                digest.update(block)
                out.write(block)
        path = directory / digest.hexdigest()
        os.replace(temporary, path)  # the same file uploaded again replaces itself, and is young again
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def uploads_clean(directory=None, *, now=None):
    """Delete the kept uploads (and crashed partial writes) older than KEEP_SECONDS; returns how many."""
    directory, now, removed = directory or upload_dir(), now or time.time(), 0
    for entry in os.scandir(directory):
        try:
            if entry.is_file() and now - entry.stat().st_mtime > KEEP_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # another request took it first
    return removed


def erp_import_queue(path, *, filename, actor, profile=None, dry_run=True, skip_invalid=False):
    """Import the kept upload at `path`: at once when it is small, else queued for the worker. Returns
    the batch (finished, or "queued"). The file is deleted once the import has applied or refused it."""
    if not actor.has_perm("erp.add_erpimport"):
        raise PermissionDenied("Only operations can import ERP exports.")
    if path.stat().st_size < BACKGROUND_BYTES:
        with open(path, "rb") as file:
            batch = erp_import(file, filename=filename, actor=actor, profile=profile, dry_run=dry_run,
                               skip_invalid=skip_invalid)
        upload_settle(batch, path)
        return batch
    from integrations.erp.tasks import (
        import_erp_upload,  # the tasks module imports this one
    )

    batch = ErpImport.objects.create(
        filename=str(filename)[:255], sha256=path.name, size=path.stat().st_size, dry_run=dry_run,
        skip_invalid=skip_invalid, created_by=actor.user if actor.is_user else None, actor_ref=actor.ref[:200],
        phase="queued", message="Waiting for the worker to read the file.")
    transaction.on_commit(lambda: import_erp_upload.delay(batch.pk, profile))
    return batch


def upload_settle(batch, path):
    """After an import of a kept upload: keep it for a confirmation (a preview that could apply), else delete it."""
    S = ErpImport.State
    confirmable = batch.state == S.PREVIEWED and batch.duplicate_of_id is None
    if not confirmable:
        path.unlink(missing_ok=True)
