from django.db import migrations

from console.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [("axes", "0010_accessattemptexpiration"), ("lifecycle", "0002_default_teams_and_groups")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
