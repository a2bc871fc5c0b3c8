"""ERP tasks: thin; the work is in drop.py."""

from celery import shared_task

from integrations.erp.drop import drop_folder_import


@shared_task
def import_erp_drop_folder():
    """Beat, every minute: import the finished files in ERP_DROP_DIR (unset: nothing to do)."""
    return [[name, outcome] for name, outcome, _message in drop_folder_import()]
