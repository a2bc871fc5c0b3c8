"""seed_demo gives every customer with orders a health score, keeps the stages its scenarios made,
and leaves the follower after its history (a rerun adds no score changes)."""

import io

import pytest
from django.core.management import call_command

from lifecycle.models import Customer, HealthScore, HealthSnapshot, Stage, TimelineEvent
from lifecycle.models.health import HealthWatermark

CUSTOMERS = 30


@pytest.fixture
def seed(db, settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.delenv("AFTERCARE_DEMO_PASSWORD", raising=False)
    return lambda: call_command("seed_demo", customers=CUSTOMERS, stdout=io.StringIO())


def test_every_customer_with_orders_gets_a_score_and_keeps_its_scenarios_stage(seed):
    seed()
    with_orders = Customer.objects.exclude(stage=Stage.PROSPECT)
    scored = HealthScore.objects.filter(score__isnull=False)
    assert set(scored.values_list("customer_id", flat=True)) == set(with_orders.values_list("pk", flat=True))
    assert not HealthScore.objects.filter(stale_since__isnull=False).exists()
    assert {band for band in scored.values_list("band", flat=True)} >= {"optimize"}
    assert HealthWatermark.objects.get().last_event_id == TimelineEvent.objects.order_by("-id").first().pk

    snapshots = HealthSnapshot.objects.count()
    seed()
    assert HealthSnapshot.objects.count() == snapshots  # a rerun changes no score
