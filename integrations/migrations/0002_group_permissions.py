from django.db import migrations

from integrations.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial"), ("lifecycle", "0002_default_teams_and_groups")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
