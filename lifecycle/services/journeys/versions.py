"""A playbook as a version freezes it (the snapshots journeys start from), and DOMAIN.md's default
playbook, installed by a data migration as version 1.

The snapshot functions read plain attributes only, so the data migration's historical models and
the live ones give the same JSON (playbooks.playbook_publish uses them too).
"""

from django.utils import timezone

DEFAULT_NAME = "First 30 days"
DEFAULT_DESCRIPTION = ("DOMAIN.md's expected touchpoints after a first paid order: confirmation, welcome, shipping, "
                       "delivery check-in, onboarding check, review request and the 30-day value review.")
H, DAY = 60, 24 * 60
# (key, name, team slug, due days after payment, trigger, days after the trigger, signals, SLA minutes once
# missed). The delivery check-in is due a day after delivery; until the order is delivered, on day 5
# (a parcel's usual 2-4 days plus the day after). An order confirmation is caught up within 4 hours,
# a call or an email within a working day.
DEFAULT_STEPS = [
    ("order_confirmation", "Order confirmation", "commerce", 0, "payment", 0,
     ["order_state_changed:paid", "touchpoint"], 4 * H),
    ("welcome_email", "Welcome & onboarding email", "marketing", 1, "payment", 0,
     ["crm_activity:email", "touchpoint"], DAY),
    ("shipping_notice", "Shipping notice", "commerce", 2, "payment", 0,
     ["order_state_changed:shipped|delivered|completed"], DAY),
    ("delivery_check_in", "Delivery check-in", "support", 5, "delivered", 1,
     ["crm_activity", "touchpoint"], DAY),
    ("onboarding_check", "Onboarding check", "success", 7, "payment", 0,
     ["crm_activity:call|meeting", "touchpoint"], DAY),
    ("review_request", "Review request", "marketing", 14, "payment", 0,
     ["crm_activity:email", "touchpoint"], DAY),
    ("value_review", "30-day value review", "success", 30, "payment", 0,
     ["crm_activity", "touchpoint"], DAY),
]
DEFAULT_EXITS = ["refunded", "cancelled", "churned"]


def step_snapshot(step, team_slug):
    return {"key": step.key, "name": step.name, "position": step.position, "team_id": step.team_id,
            "team": team_slug, "due_days": step.due_days, "trigger": step.trigger,
            "trigger_days": step.trigger_days, "signals": list(step.signals or []), "sla_minutes": step.sla_minutes}


def conditions_snapshot(playbook):
    def money(value):
        return None if value is None else str(value)

    return {"store": playbook.store, "product_categories": list(playbook.product_categories or []),
            "min_order_total": money(playbook.min_order_total), "max_order_total": money(playbook.max_order_total),
            "order_kind": playbook.order_kind, "exit_on": list(playbook.exit_on or []),
            "re_entry": playbook.re_entry, "re_entry_days": playbook.re_entry_days}


def install_default_playbook(apps):
    """The default playbook with its steps, published as version 1: once (a data migration; tests that
    flush the database). A playbook of that name is left as its managers edited it."""
    Playbook = apps.get_model("lifecycle", "Playbook")
    PlaybookStep = apps.get_model("lifecycle", "PlaybookStep")
    PlaybookVersion = apps.get_model("lifecycle", "PlaybookVersion")
    Team = apps.get_model("lifecycle", "Team")
    if Playbook.objects.filter(name=DEFAULT_NAME).exists():
        return
    teams = {team.slug: team for team in Team.objects.filter(slug__in={s[2] for s in DEFAULT_STEPS})}
    if len(teams) < len({s[2] for s in DEFAULT_STEPS}):
        return  # a default team was renamed or removed: a manager builds the playbook instead
    playbook = Playbook.objects.create(name=DEFAULT_NAME, description=DEFAULT_DESCRIPTION, exit_on=DEFAULT_EXITS,
                                       version=1)
    steps = [PlaybookStep.objects.create(playbook=playbook, position=i, key=key, name=name, team=teams[slug],
                                         due_days=days, trigger=trigger, trigger_days=after, signals=signals,
                                         sla_minutes=sla)
             for i, (key, name, slug, days, trigger, after, signals, sla) in enumerate(DEFAULT_STEPS, start=1)]
    PlaybookVersion.objects.create(playbook=playbook, number=1, published_at=timezone.now(),
                                   steps=[step_snapshot(s, s.team.slug) for s in steps],
                                   conditions=conditions_snapshot(playbook))
