"""Health (issue 15): the follower's watermark over the timeline, the policy's on-time delivery window
and quiet period, the default policy row, and who may read or edit the policy and the scores."""

from django.db import migrations, models

from lifecycle.health_defaults import install_health_defaults


def forwards(apps, schema_editor):
    install_health_defaults(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle', '0020_j15_journey_watermark'),
    ]

    operations = [
        migrations.CreateModel(
            name='HealthWatermark',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('last_event_id', models.BigIntegerField(default=0, help_text='The highest timeline event id read.')),
                ('gaps', models.JSONField(blank=True, default=list, help_text='Missing ids below it, read again: [first id, last id, first seen].')),
                ('followed_at', models.DateTimeField(blank=True, null=True)),
                ('followed', models.PositiveIntegerField(default=0, help_text='Events the last run read.')),
                ('nightly_at', models.DateTimeField(blank=True, help_text='When the last full recompute started.', null=True)),
                ('nightly_customers', models.PositiveIntegerField(blank=True, null=True)),
                ('nightly_seconds', models.FloatField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'health watermark',
            },
        ),
        migrations.AddField(
            model_name='healthpolicy',
            name='delivery_days',
            field=models.PositiveSmallIntegerField(default=7, help_text='An order delivered or completed within this many days of payment was on time.'),
        ),
        migrations.AddField(
            model_name='healthpolicy',
            name='quiet_days',
            field=models.PositiveSmallIntegerField(default=14, help_text='Activity this recent counts in full; older, it fades to nothing at the churn window.'),
        ),
        migrations.AddField(
            model_name='historicalhealthpolicy',
            name='delivery_days',
            field=models.PositiveSmallIntegerField(default=7, help_text='An order delivered or completed within this many days of payment was on time.'),
        ),
        migrations.AddField(
            model_name='historicalhealthpolicy',
            name='quiet_days',
            field=models.PositiveSmallIntegerField(default=14, help_text='Activity this recent counts in full; older, it fades to nothing at the churn window.'),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
