"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered per app."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun, worker_process_init
from django.db import close_old_connections

from console import redaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("aftercare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes the database connection before and after every task unless
# CELERY_DB_REUSE_MAX is set, and reconnecting cost more than processing a webhook. Connections are
# kept instead, and recycled around each task as Django does around each request: when older than
# CONN_MAX_AGE, broken, or failing the health check (close_old_connections). The fixup still
# reconnects after this many tasks, as a backstop.
app.conf["CELERY_DB_REUSE_MAX"] = 1000


@task_prerun.connect
@task_postrun.connect
def _recycle_old_connections(sender=None, **kwargs):
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()


@worker_process_init.connect
def _freeze_loaded(**kwargs):
    """Each pool process: the loaded code out of the cycle collector's way (console/warm.py), so a full
    collection does not pause a drain holding its store's lock."""
    from console.warm import freeze_loaded

    freeze_loaded()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_personal_data(logger=None, **kwargs):
    """The worker's log handlers are Celery's, not settings.LOGGING's: they get the same filter, so a
    task's exception (a unique constraint quoting an email) is logged without the email."""
    redaction.install(logger)
