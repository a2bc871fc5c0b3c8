"""Issue 15: DOMAIN.md's default first-30-days playbook, its seven steps owned by the default teams,
published as version 1; managers edit playbooks, everyone who reads customers reads journeys.
Installed once: a playbook managers edited since is left as they edited it."""

from django.db import migrations

from lifecycle.defaults import grant
from lifecycle.services.journeys.versions import install_default_playbook

READ = [f"lifecycle.view_{m}" for m in ("playbook", "playbookstep", "playbookversion", "journey", "journeystep")]
PERMISSIONS = {
    # change_journeystep: a manager may mark any team's step done (agents, their own teams' steps).
    "Manager": READ + [f"lifecycle.{verb}_{m}" for m in ("playbook", "playbookstep") for verb in ("add", "change")]
    + ["lifecycle.delete_playbookstep", "lifecycle.change_journeystep", "lifecycle.view_journeywatermark"],
    "Support agent": READ,
}


def forwards(apps, schema_editor):
    install_default_playbook(apps)
    grant(apps, PERMISSIONS)


class Migration(migrations.Migration):

    dependencies = [("lifecycle", "0021_health_follower")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
