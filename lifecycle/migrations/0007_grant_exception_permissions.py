from django.db import migrations

from lifecycle.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0006_exception_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
