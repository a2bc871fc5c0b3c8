from django.db import migrations

from integrations.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(apps)  # grants the CRM permissions now that its models exist


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial"), ("erp", "0002_group_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
