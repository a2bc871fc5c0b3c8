"""Default teams, the owning team per stage (DOMAIN.md), and the three groups with their permissions.

Used by data migration 0002 (with the migration's historical models) and by tests that flush the
database (with the live models). Idempotent: running it again changes nothing that exists.
Permissions are normally created by post_migrate, after every migration; the groups need them now,
so they are created first (create_permissions is idempotent too).
"""

from django.contrib.auth.management import create_permissions

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

_ALL = ["customer", "customeridentity", "order", "ordersourcestate", "ownership", "handoff",
        "timelineevent", "team", "agent", "stagepolicy"]
_BEAT = [f"django_celery_beat.{verb}_{m}" for m in ("periodictask", "crontabschedule", "intervalschedule")
         for verb in ("view", "add", "change")]

GROUPS = {
    "Support agent": [f"lifecycle.view_{m}" for m in _ALL] + ["lifecycle.move_stage"],
    "Manager": (
        [f"lifecycle.view_{m}" for m in _ALL]
        + ["lifecycle.move_stage", "lifecycle.move_stage_backward", "lifecycle.reassign_owner"]
        + [f"lifecycle.{verb}_{m}" for m in ("team", "agent", "stagepolicy") for verb in ("add", "change")]
        + ["auth.view_user"]
    ),
    "Operations": (
        [f"lifecycle.view_{m}" for m in ("customer", "customeridentity", "order", "ordersourcestate", "timelineevent")]
        + _BEAT
    ),
}


def ensure_permissions(apps):
    for app_config in apps.get_app_configs():
        # create_permissions skips apps whose models_module is unset, as it is on migration stubs.
        had_models = getattr(app_config, "models_module", None)
        app_config.models_module = had_models or True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = had_models


def grant(apps, groups):
    """Give each named group its permissions ("app_label.codename"), creating the group if needed."""
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, perms in groups.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def install_defaults(apps):
    Team = apps.get_model("lifecycle", "Team")
    StagePolicy = apps.get_model("lifecycle", "StagePolicy")

    teams = {}
    for slug, name, description in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for stage, slug in STAGE_TEAMS.items():
        StagePolicy.objects.get_or_create(stage=stage, defaults={"team": teams[slug]})
    grant(apps, GROUPS)
