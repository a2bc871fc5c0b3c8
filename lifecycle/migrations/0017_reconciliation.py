"""Reconciliation (issue 13, items 7-8): tolerance rules per system pair with history, the issue's
defaults as rows, the watermark of the incremental run, each system's own total on its source
state, and the indexes the incremental run reads. Managers edit the rules; the other groups read them."""

import django.db.models.deletion
import django.utils.timezone
import simple_history.models
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

from lifecycle.defaults import grant
from lifecycle.models.reconcile import install_tolerance_rules

PERMISSIONS = {
    "Manager": [f"lifecycle.{verb}_tolerancerule" for verb in ("view", "add", "change")]
    + ["lifecycle.view_reconcilewatermark"],
    "Support agent": ["lifecycle.view_tolerancerule"],
    "Operations": ["lifecycle.view_tolerancerule", "lifecycle.view_reconcilewatermark"],
}


def forwards(apps, schema_editor):
    install_tolerance_rules(apps)
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle', '0016_unassigned_customer_in_owner_team_queue'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalToleranceRule',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('left_system', models.CharField(choices=[('woocommerce', 'WooCommerce'), ('erp', 'ERP'), ('crm', 'CRM')], max_length=16)),
                ('right_system', models.CharField(choices=[('woocommerce', 'WooCommerce'), ('erp', 'ERP'), ('crm', 'CRM')], max_length=16)),
                ('condition', models.CharField(choices=[('states', 'Canonical states disagree'), ('amounts', 'Totals differ')], default='states', max_length=16)),
                ('left_states', models.JSONField(blank=True, default=list, help_text='States: the left system\'s canonical states that start the condition (e.g. ["paid"]).')),
                ('right_states', models.JSONField(blank=True, default=list, help_text="States: the right system's canonical states the match below compares.")),
                ('right_match', models.CharField(choices=[('any', 'is one of the right states'), ('none', 'is none of the right states')], default='none', help_text='States: it is a disagreement when the right system\'s state … (e.g. is none of ["fulfilling", …]).', max_length=8)),
                ('right_absent_counts', models.BooleanField(default=False, help_text='States: an order the right system has not reported at all disagrees too.')),
                ('amount_tolerance', models.DecimalField(decimal_places=2, default=Decimal('0.01'), help_text="Amounts: totals (in the order's currency) may differ by this much.", max_digits=14)),
                ('window_minutes', models.PositiveIntegerField(default=0, help_text='How long after the left system reported it the right one may still disagree; 0: at once.')),
                ('active', models.BooleanField(default=True)),
                ('sentence', models.CharField(help_text='The rule in words, as the exception shows it.', max_length=200)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical tolerance rule',
                'verbose_name_plural': 'historical tolerance rules',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='ReconcileWatermark',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('last_run_at', models.DateTimeField(blank=True, help_text='The moment the last run compared.', null=True)),
                ('last_full_at', models.DateTimeField(blank=True, null=True)),
                ('fingerprint', models.CharField(blank=True, max_length=64)),
                ('evaluated', models.PositiveIntegerField(blank=True, help_text='Orders the last run compared (empty: a full pass).', null=True)),
                ('opened', models.PositiveIntegerField(default=0)),
                ('updated', models.PositiveIntegerField(default=0)),
                ('resolved', models.PositiveIntegerField(default=0)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'verbose_name': 'reconciliation watermark',
            },
        ),
        migrations.CreateModel(
            name='ToleranceRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('left_system', models.CharField(choices=[('woocommerce', 'WooCommerce'), ('erp', 'ERP'), ('crm', 'CRM')], max_length=16)),
                ('right_system', models.CharField(choices=[('woocommerce', 'WooCommerce'), ('erp', 'ERP'), ('crm', 'CRM')], max_length=16)),
                ('condition', models.CharField(choices=[('states', 'Canonical states disagree'), ('amounts', 'Totals differ')], default='states', max_length=16)),
                ('left_states', models.JSONField(blank=True, default=list, help_text='States: the left system\'s canonical states that start the condition (e.g. ["paid"]).')),
                ('right_states', models.JSONField(blank=True, default=list, help_text="States: the right system's canonical states the match below compares.")),
                ('right_match', models.CharField(choices=[('any', 'is one of the right states'), ('none', 'is none of the right states')], default='none', help_text='States: it is a disagreement when the right system\'s state … (e.g. is none of ["fulfilling", …]).', max_length=8)),
                ('right_absent_counts', models.BooleanField(default=False, help_text='States: an order the right system has not reported at all disagrees too.')),
                ('amount_tolerance', models.DecimalField(decimal_places=2, default=Decimal('0.01'), help_text="Amounts: totals (in the order's currency) may differ by this much.", max_digits=14)),
                ('window_minutes', models.PositiveIntegerField(default=0, help_text='How long after the left system reported it the right one may still disagree; 0: at once.')),
                ('active', models.BooleanField(default=True)),
                ('sentence', models.CharField(help_text='The rule in words, as the exception shows it.', max_length=200)),
            ],
            options={
                'ordering': ['left_system', 'right_system', 'window_minutes', 'id'],
            },
        ),
        migrations.AddField(
            model_name='ordersourcestate',
            name='total',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddIndex(
            model_name='ordersourcestate',
            index=models.Index(fields=['received_at'], name='source_state_received_idx'),
        ),
        migrations.AddIndex(
            model_name='ordersourcestate',
            index=models.Index(fields=['system', 'observed_at'], name='source_state_observed_idx'),
        ),
        migrations.AddField(
            model_name='historicaltolerancerule',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
