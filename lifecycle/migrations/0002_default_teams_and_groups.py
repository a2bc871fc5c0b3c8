"""Default teams, the owning team per stage (DOMAIN.md), and the three user groups.

Permissions are created by a post_migrate signal, after every migration has run; the groups need
them now, so they are created here first (create_permissions is idempotent).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

TEAMS = [
    ("commerce", "Commerce", "Orders and payments until the first order is paid."),
    ("support", "Support", "Questions, deliveries and duplicate records."),
    ("success", "Success", "Onboarding and value in the first 30 days and after."),
    ("marketing", "Marketing", "Loyalty, reviews and win-back."),
    ("sales", "Sales", "Larger accounts and upsell."),
]

STAGE_TEAMS = {
    "purchased": "commerce",
    "onboarding": "success",
    "active": "success",
    "at_risk": "success",
    "loyal": "marketing",
    "churned": "marketing",
}

LIFECYCLE_MODELS = ["customer", "customeridentity", "order", "ordersourcestate", "ownership", "handoff",
                    "timelineevent", "team", "agent", "stagepolicy"]

GROUPS = {
    "Support agent": [f"lifecycle.view_{m}" for m in LIFECYCLE_MODELS] + ["lifecycle.move_stage"],
    "Manager": (
        [f"lifecycle.view_{m}" for m in LIFECYCLE_MODELS]
        + ["lifecycle.move_stage", "lifecycle.move_stage_backward", "lifecycle.reassign_owner"]
        + [f"lifecycle.{verb}_{m}" for m in ("team", "agent", "stagepolicy") for verb in ("add", "change")]
        + ["auth.view_user"]
    ),
    "Operations": (
        [f"lifecycle.view_{m}" for m in ("customer", "customeridentity", "order", "ordersourcestate", "timelineevent")]
        + [f"django_celery_beat.{verb}_{m}" for m in ("periodictask", "crontabschedule", "intervalschedule")
           for verb in ("view", "add", "change")]
    ),
}


def create_defaults(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Team = apps.get_model("lifecycle", "Team")
    StagePolicy = apps.get_model("lifecycle", "StagePolicy")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    teams = {}
    for slug, name, description in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for stage, slug in STAGE_TEAMS.items():
        StagePolicy.objects.get_or_create(stage=stage, defaults={"team": teams[slug]})

    for group_name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
