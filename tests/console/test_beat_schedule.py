"""The beat's schedule as django-celery-beat's DatabaseScheduler installs it: a sweep that waited past its
next run is sent with an expiry, so a worker drops it instead of running a backlog of the same sweep."""

import pytest
from celery import current_app
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler


@pytest.mark.django_db(transaction=True)  # the scheduler closes connections outside transactions
def test_every_minute_sweep_is_installed_and_sent_with_an_expiry_shorter_than_its_interval():
    # given the beat starting on the database scheduler
    scheduler = DatabaseScheduler(app=current_app, lazy=True)
    scheduler.setup_schedule()
    # then every entry the settings give an expiry keeps it in the table a manager edits, and sends it
    expiring = {name: entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
                if "expire_seconds" in entry.get("options", {})}
    assert {"sweep-sla", "follow-health", "sweep-journeys", "drain-waiting-deliveries"} <= set(expiring)
    for name, entry in expiring.items():
        seconds = entry["options"]["expire_seconds"]
        assert 0 < seconds < entry["schedule"], name
        assert PeriodicTask.objects.get(name=name).expire_seconds == seconds, name
        assert scheduler.schedule[name].options["expires"] == seconds, name
