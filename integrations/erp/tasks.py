"""ERP tasks: thin; the work is in drop.py and importing.py."""

import logging

from celery import shared_task

from integrations.erp.drop import drop_folder_import
from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport
from integrations.erp.uploads import upload_path, upload_settle
from lifecycle.actors import Actor

log = logging.getLogger(__name__)


@shared_task
def import_erp_drop_folder():
    """Beat, every minute: import the finished files in ERP_DROP_DIR (unset: nothing to do)."""
    return [[name, outcome] for name, outcome, _message in drop_folder_import()]


@shared_task
def import_erp_upload(batch_id, profile=None):
    """Read (and apply, unless the batch is a preview) a large uploaded export on the worker, saving its
    progress on the batch as it goes. A rerun of a batch no longer queued does nothing: a worker lost
    mid-file leaves it failed-looking "running", and the operator uploads again (applied chunks are
    not applied twice: the stale rule sees them as unchanged)."""
    batch = ErpImport.objects.filter(pk=batch_id, phase="queued").select_related("created_by").first()
    if batch is None:
        return None
    path = upload_path(batch.sha256)
    if path is None or not path.exists():
        ErpImport.objects.filter(pk=batch.pk).update(
            state=ErpImport.State.FAILED, phase="", message="The uploaded file is no longer kept: upload it again.")
        return None
    # As the person who uploaded it (their permission is asked again); a deleted account's, as the task.
    actor = Actor.for_user(batch.created_by) if batch.created_by else Actor.task("import_erp_upload")
    with open(path, "rb") as file:
        batch = erp_import(file, filename=batch.filename, actor=actor, profile=profile, dry_run=batch.dry_run,
                           skip_invalid=batch.skip_invalid, batch=batch)
    upload_settle(batch, path)
    log.info("ERP import #%s of %s: %s", batch.pk, batch.filename, batch.get_state_display())
    return batch.state
