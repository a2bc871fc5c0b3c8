# The requests sent to HubSpot on one UTC day, for keeping its daily cap (integrations/crm/daily_cap.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0005_prune_outbox_schedule'),
    ]

    operations = [
        migrations.AddField(
            model_name='crmconnection',
            name='requests_day',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='crmconnection',
            name='requests_today',
            field=models.PositiveIntegerField(default=0, verbose_name='requests sent that day'),
        ),
    ]
