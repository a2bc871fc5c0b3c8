"""Default teams, the owning team per stage (DOMAIN.md), and the three groups with their permissions.

Used by data migration 0002 (with the migration's historical models) and by tests that flush the
database (with the live models). Idempotent: running it again changes nothing that exists.
Permissions are normally created by post_migrate, after every migration; the groups need them now,
so they are created first (create_permissions is idempotent too).
"""

from django.contrib.auth.management import create_permissions

from lifecycle.services.journeys.versions import install_default_playbook

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
        "timelineevent", "team", "agent", "stagepolicy", "exceptioncase", "exceptionpolicy", "routingrule",
        "holiday", "tolerancerule"]
_CONFIG = ("team", "agent", "stagepolicy", "exceptionpolicy", "routingrule", "holiday", "tolerancerule")

# DOMAIN.md's exception kinds: (queue team slug or None for managers, to the owner team?, SLA minutes,
# business hours?). "1 business day" is 8 business hours; 1 h and 4 h for the urgent kinds run on
# the wall clock because nobody may own the customer meanwhile.
EXCEPTION_POLICIES = {
    "unowned_customer": (None, False, 60, False),
    "unassigned_customer": (None, True, 4 * 60, True),  # the owner team's queue, claimable by its agents
    "ownership_conflict": (None, True, 8 * 60, True),
    "state_mismatch": (None, True, 8 * 60, True),
    "unmapped_status": (None, False, 8 * 60, True),
    "missed_touchpoint": (None, True, 8 * 60, True),
    "duplicate_customer": ("support", False, 16 * 60, True),
    "sync_failure": (None, False, 4 * 60, False),
    "at_risk": (None, True, 8 * 60, True),
    "payment_problem": ("commerce", False, 8 * 60, True),
}
_BEAT = [f"django_celery_beat.{verb}_{m}" for m in ("periodictask", "crontabschedule", "intervalschedule")
         for verb in ("view", "add", "change")]

# The first 30 days (migration 0022): everyone who reads customers reads playbooks and journeys.
_JOURNEYS = ["playbook", "playbookstep", "playbookversion", "journey", "journeystep"]

GROUPS = {
    "Support agent": [f"lifecycle.view_{m}" for m in _ALL + _JOURNEYS]
    + ["lifecycle.move_stage", "lifecycle.change_exceptioncase"],
    "Manager": (
        [f"lifecycle.view_{m}" for m in _ALL]
        + ["lifecycle.move_stage", "lifecycle.move_stage_backward", "lifecycle.reassign_owner",
           "lifecycle.view_all_customers",
           "lifecycle.change_exceptioncase", "lifecycle.assign_exceptioncase", "lifecycle.dismiss_exceptioncase"]
        + [f"lifecycle.{verb}_{m}" for m in _CONFIG for verb in ("add", "change")]
        + ["lifecycle.delete_holiday", "lifecycle.delete_routingrule", "auth.view_user",
           "lifecycle.view_reconcilewatermark"]
        # playbooks are managers' to edit; change_journeystep: marking any team's step done
        + [f"lifecycle.view_{m}" for m in _JOURNEYS]
        + [f"lifecycle.{verb}_{m}" for m in ("playbook", "playbookstep") for verb in ("add", "change")]
        + ["lifecycle.delete_playbookstep", "lifecycle.change_journeystep", "lifecycle.view_journeywatermark"]
    ),
    "Operations": (
        [f"lifecycle.view_{m}" for m in ("customer", "customeridentity", "order", "ordersourcestate", "timelineevent")]
        + ["lifecycle.view_all_customers"]  # imports touch any customer
        + ["lifecycle.view_tolerancerule", "lifecycle.view_reconcilewatermark"]
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
            # At an early migration a later model's permission does not exist yet: a later data
            # migration runs this again and grants it.
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission:
                group.permissions.add(permission)


def install_defaults(apps):
    Team = apps.get_model("lifecycle", "Team")
    StagePolicy = apps.get_model("lifecycle", "StagePolicy")

    teams = {}
    for slug, name, description in TEAMS:
        teams[slug], _ = Team.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for stage, slug in STAGE_TEAMS.items():
        StagePolicy.objects.get_or_create(stage=stage, defaults={"team": teams[slug]})
    if "exceptionpolicy" in apps.all_models["lifecycle"]:
        ExceptionPolicy = apps.get_model("lifecycle", "ExceptionPolicy")
        for kind, (queue, to_owner, minutes, business) in EXCEPTION_POLICIES.items():
            ExceptionPolicy.objects.get_or_create(kind=kind, defaults={
                "queue": teams[queue] if queue else None, "route_to_owner_team": to_owner,
                "sla_minutes": minutes, "business_hours": business,
            })
    if "playbook" in apps.all_models["lifecycle"]:
        install_default_playbook(apps)
    grant(apps, GROUPS)
