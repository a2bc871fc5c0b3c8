"""Issue 14: the CRM joins reconciliation as a third system, with one tolerance rule as data: the
CRM's deal stage disagreeing with a paid order 24 hours after the shop said it was paid. Installed
like the ERP's defaults (0017), once: a rule managers edited since is left as they edited it."""

from django.db import migrations

from lifecycle.models.reconcile import install_tolerance_rules


def forwards(apps, schema_editor):
    install_tolerance_rules(apps)


class Migration(migrations.Migration):

    dependencies = [("lifecycle", "0017_reconciliation")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
