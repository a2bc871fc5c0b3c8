"""Exception policies (DOMAIN.md defaults) and the permissions on the routing and queue models."""

from django.db import migrations

from lifecycle.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0004_routing_calendars_exception_workflow")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
