"""The health tasks the beat runs: the follower (stale scores recomputed within a minute, refunds to
at_risk), the nightly recompute, the churn sweep; each a no-op when rerun."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from lifecycle.models import EventKind, HealthScore, Stage, TimelineEvent
from lifecycle.models.health import HealthWatermark
from lifecycle.services.health import watermark
from lifecycle.services.orders import order_transition
from lifecycle.tasks import follow_health, recompute_health, sweep_churn
from tests.factories import make_customer, make_order
from tests.lifecycle.health_support import TASK, paid_customer

pytestmark = pytest.mark.django_db


def test_the_follower_task_scores_new_customers_and_moves_refunded_ones():
    watermark()
    new = paid_customer()
    refunded = paid_customer(2)
    order_transition(order=refunded.orders.order_by("pk").first(), to_state="refunded", actor=TASK)

    done = follow_health()

    assert done["recomputed"] == 2 and done["events"] > 0
    assert HealthScore.objects.get(customer=new).score == 58
    refunded.refresh_from_db()
    assert refunded.stage == Stage.AT_RISK
    moved = TimelineEvent.objects.filter(customer=refunded, kind=EventKind.STAGE_CHANGED).order_by("-id").first()
    assert (moved.actor_kind, moved.actor_ref) == ("task", "follow_health")
    assert follow_health()["recomputed"] == 0  # it reads its own events (band changes, moves): nothing to redo


def test_the_nightly_task_scores_everyone_with_orders_and_records_its_run():
    customers = [paid_customer(), paid_customer()]
    make_order(customers[0], state="paid")

    done = recompute_health()

    assert done["customers"] == 2 and done["band_changes"] == 2
    assert HealthScore.objects.filter(score__isnull=False).count() == 2
    mark = HealthWatermark.objects.get()
    assert mark.nightly_customers == 2 and mark.nightly_at is not None
    assert recompute_health()["band_changes"] == 0


def test_the_churn_task_churns_who_the_window_passed():
    # A shop's history imported today: an order paid 200 days ago, nothing since
    long_ago = timezone.now() - timedelta(days=200)
    silent = make_customer()
    make_order(silent, state="completed", placed_at=long_ago, paid_at=long_ago)
    recent = paid_customer()

    assert sweep_churn() == 1

    silent.refresh_from_db(), recent.refresh_from_db()
    assert (silent.stage, recent.stage) == (Stage.CHURNED, Stage.ONBOARDING)
    assert sweep_churn() == 0


def test_the_beat_runs_the_follower_every_minute_and_the_nightly_and_churn_once_a_day():
    follow = settings.CELERY_BEAT_SCHEDULE["follow-health"]
    assert (follow["task"], follow["schedule"]) == ("lifecycle.tasks.follow_health", 60.0)
    assert settings.CELERY_BEAT_SCHEDULE["recompute-health"]["task"] == "lifecycle.tasks.recompute_health"
    assert settings.CELERY_BEAT_SCHEDULE["sweep-churn"]["task"] == "lifecycle.tasks.sweep_churn"
