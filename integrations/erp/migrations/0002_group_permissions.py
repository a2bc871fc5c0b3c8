from django.db import migrations

from integrations.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)  # grants the ERP permissions now that their models exist


class Migration(migrations.Migration):
    dependencies = [("erp", "0001_initial"), ("integrations", "0002_group_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
