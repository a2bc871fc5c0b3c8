"""The health score's defaults: the one policy row (DOMAIN.md's weights, bands at 40 and 70, a
120-day churn window) and who may read or edit what.

Used by data migration 0021 (with the migration's historical models) and by tests that flush the
database (with the live models). Idempotent: an existing policy keeps what its managers set.
"""

from lifecycle.defaults import grant

PERMISSIONS = {
    # Managers tune the policy (each save publishes a new version); scores are computed, never edited.
    "Manager": ["lifecycle.view_healthpolicy", "lifecycle.change_healthpolicy", "lifecycle.view_healthscore",
                "lifecycle.view_healthsnapshot", "lifecycle.view_healthwatermark"],
    "Support agent": ["lifecycle.view_healthpolicy", "lifecycle.view_healthscore", "lifecycle.view_healthsnapshot"],
    "Operations": ["lifecycle.view_healthscore", "lifecycle.view_healthwatermark"],
}


def install_health_defaults(apps):
    policy_model = apps.get_model("lifecycle", "HealthPolicy")
    if not policy_model.objects.exists():
        policy_model.objects.create()
    grant(apps, PERMISSIONS)
