"""The beat's hourly prune of the CRM outbox (integrations/crm/retention.py), as a periodic task the
admin can edit, like the others; installed here rather than in CELERY_BEAT_SCHEDULE, so the schedule
ships with the app that owns the outbox."""

from django.db import migrations

NAME = "prune-crm-outbox"
TASK = "integrations.crm.tasks.prune_crm_outbox"


def install(apps, schema_editor):
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=1, period="hours")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=NAME, defaults={"task": TASK, "interval": interval, "expire_seconds": 3_500,
                             "description": "Delete CRM outbox messages delivered, superseded or not sent "
                                            "more than 30 days ago (dead letters stay)."})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_deals_pushed"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(install, remove)]
