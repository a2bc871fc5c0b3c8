"""The journey follower's watermark moves up to what the last run looked at as soon as every
transaction open at that look has ended (PostgreSQL knows), not minutes later: each run reads again
only what may still have been in flight, and never passes an event a running transaction may still
commit below it."""

import psycopg
import pytest
from django.db import connection

from lifecycle.models import JourneyWatermark, TimelineEvent
from tests.lifecycle.journey_support import DAY, crm_activity, follow, paid_customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _top():
    """The newest event's id (the follower's runs write events of their own)."""
    return TimelineEvent.objects.order_by("-id").values_list("id", flat=True).first()


def test_the_watermark_moves_up_at_the_next_run_when_nothing_was_in_flight():
    customer, _, paid_at = paid_customer(days_ago=2)
    follow()
    looked_at = JourneyWatermark.objects.get().seen_id
    crm_activity(customer, "email", paid_at + DAY)

    follow()  # seconds later, not SAFETY later

    mark = JourneyWatermark.objects.get()
    assert mark.safe_id == looked_at and looked_at < mark.seen_id <= _top()


def test_a_transaction_open_since_before_the_look_holds_the_watermark_back():
    customer, _, paid_at = paid_customer(days_ago=2)
    settings = connection.settings_dict
    with psycopg.connect(dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"] or "127.0.0.1",
                         port=settings["PORT"] or 5432, password=settings.get("PASSWORD") or None) as other:
        other.execute("SELECT 1")  # a transaction begun before the look, that might still commit an event
        follow()
        before = JourneyWatermark.objects.get()
        crm_activity(customer, "email", paid_at + DAY)

        follow()
        held = JourneyWatermark.objects.get()
        assert (held.safe_id, held.seen_id) == (before.safe_id, before.seen_id)

        other.rollback()  # it ended: the next run moves up to what the first looked at
        follow()
        assert JourneyWatermark.objects.get().safe_id == before.seen_id
