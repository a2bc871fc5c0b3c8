# Deals pushed by the outbox: a deal message names its order; a deal keeps what was last sent to it.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0003_inbound'),
        ('lifecycle', '0018_crm_tolerance_rule'),
    ]

    operations = [
        migrations.AddField(
            model_name='crmdeal',
            name='pushed',
            field=models.JSONField(blank=True, default=dict, help_text='The properties last sent, by name.'),
        ),
        migrations.AddField(
            model_name='outboundmessage',
            name='order',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='lifecycle.order'),
        ),
        migrations.AlterField(
            model_name='outboundmessage',
            name='field',
            field=models.CharField(choices=[('contact', 'New contact'), ('owner', 'Owner'), ('stage', 'Lifecycle stage'), ('deal', 'Deal (an order)')], max_length=16),
        ),
    ]
