"""Default teams, the owning team per stage (DOMAIN.md), and the three user groups."""

from django.db import migrations

from lifecycle.defaults import install_defaults


def create_defaults(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
