from django.db import migrations

from console.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    initial = True
    dependencies = [("axes", "0010_accessattemptexpiration"), ("lifecycle", "0002_default_teams_and_groups")]
    operations = [
        migrations.CreateModel(
            name="LoginLockout", fields=[], bases=("axes.accessattempt",),
            options={"verbose_name": "login lockout", "verbose_name_plural": "login lockouts", "proxy": True,
                     "indexes": [], "constraints": []},
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
