"""The console the drill runs against, set up as operations and a manager would: migrated, the demo staff
(seed_demo without customers), agents' capacities set for the month, the shop and the CRM connected, a
manager's API token, and the beat's schedule compressed.

The beat's schedule is data managers edit (django-celery-beat's tables); the drill divides every
interval by its speed-up, as a manager could in the admin. Beat writes the settings' schedule back
at each start, so the drill compresses it again after every start of beat.
"""

import io
import math
from dataclasses import dataclass

MANAGER = "manager"
PASSWORD = "aftercare-drill"  # a local drill database only, like seed_demo's demo password
SHOP_SLUG = "drill"


@dataclass
class Console:
    store_id: int
    crm_id: int
    token: str
    capacity: int


def migrate_and_seed(*, customers, capacity, shop_url, keys, crm_url, crm_token):
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from integrations.crm.models import CrmConnection
    from integrations.stores import store_connect
    from lifecycle.actors import Actor
    from lifecycle.models import Agent

    call_command("migrate", verbosity=0)
    call_command("seed_demo", customers=0, stdout=io.StringIO())
    User.objects.filter(is_staff=True).update(password=_hash(PASSWORD))
    on_shift = Agent.objects.filter(is_available=True, user__is_active=True)
    capacity = capacity or _capacity_for(customers, on_shift)
    on_shift.update(capacity=capacity)
    store = store_connect(name="Drill shop (sandbox)", slug=SHOP_SLUG, base_url=shop_url,
                          consumer_key=keys["consumer_key"], consumer_secret=keys["consumer_secret"],
                          webhook_secret=keys["secret"], actor=Actor.system("drill"))
    call_command("connect_crm", "hubspot", token=crm_token, base_url=crm_url, name="HubSpot sandbox", limit=190,
                 no_check=True, stdout=io.StringIO())
    token, _ = Token.objects.get_or_create(user=User.objects.get(username=MANAGER))
    return Console(store_id=store.pk, crm_id=CrmConnection.objects.get(name="HubSpot sandbox").pk, token=token.key,
                   capacity=capacity)


def _hash(password):
    from django.contrib.auth.hashers import make_password

    return make_password(password)


def _capacity_for(customers, agents):
    """Room for every customer the month brings in the busiest team's agents, with a margin: the figure
    is how fast a customer reaches an agent, not how long it waits for a full team."""
    from django.db.models import Count

    from lifecycle.models import Team

    per_team = Team.objects.annotate(n=Count("agents", filter=_on_shift_filter())).values_list("n", flat=True)
    fewest = min([n for n in per_team if n] or [1])
    return max(60, math.ceil(customers * 1.5 / fewest))


def _on_shift_filter():
    from django.db.models import Q

    return Q(agents__is_available=True, agents__user__is_active=True)


def owner_emails():
    """The demo agents' emails and names, for the sandbox CRM's owners (as scripts/demo-env writes them)."""
    from lifecycle.management.demo_data import AGENTS

    return ",".join(f"{username}@aftercare.example:{first} {last}" for username, first, last, *_ in AGENTS)


def compress_beat(speedup):
    """Every interval entry of the beat's schedule runs `speedup` times as often, and a late run of it
    expires as much sooner; returns {name: seconds}."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    compressed = {}
    for task in PeriodicTask.objects.filter(interval__isnull=False).select_related("interval"):
        seconds = task.interval.every * {"days": 86_400, "hours": 3600, "minutes": 60}.get(task.interval.period, 1)
        every = max(2, round(seconds / speedup)) if seconds >= 60 else seconds
        if every != seconds:
            task.interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
            if task.expire_seconds:
                task.expire_seconds = max(1, round(task.expire_seconds * every / seconds))
            task.save(update_fields=["interval", "expire_seconds"])
        compressed[task.name] = every
    return compressed


def beat_wrote_schedule():
    """Whether beat has written the settings' intervals (it does at each start, undoing a compression)."""
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    wanted = {name: entry["schedule"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
              if isinstance(entry["schedule"], (int, float))}
    found = {task.name: task.interval.every for task in PeriodicTask.objects.filter(
        name__in=wanted, interval__period="seconds").select_related("interval")}
    return all(found.get(name) == seconds for name, seconds in wanted.items())
