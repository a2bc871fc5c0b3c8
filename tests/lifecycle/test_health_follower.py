"""The health follower reads new timeline events since its watermark: the customers they concern get
stale scores, recomputed in the same run; refunds move customers to at_risk; events of transactions
that commit late (ids below the watermark) are read when they appear, each acted on once."""

import pytest
from django.db import connection
from django.utils import timezone

from lifecycle.models import EventKind, EventSource, HealthScore, Stage, TimelineEvent
from lifecycle.models.health import HealthWatermark
from lifecycle.services import timeline
from lifecycle.services.health import health_recompute_stale, watermark
from lifecycle.services.health_follower import health_follow, holes
from lifecycle.services.orders import order_transition
from tests.factories import make_customer, make_order
from tests.lifecycle.health_support import TASK, paid_customer, recompute

pytestmark = pytest.mark.django_db


def _stage_reason(customer):
    return (TimelineEvent.objects.filter(customer=customer, kind=EventKind.STAGE_CHANGED).order_by("-id")
            .first().data["reason"])


def test_holes_are_the_ranges_of_ids_not_read():
    assert holes(1, 10, [1, 2, 5, 9]) == [[3, 4], [6, 8], [10, 10]]
    assert holes(4, 3, []) == []
    assert holes(1, 3, [1, 2, 3]) == []


def test_a_new_installation_follows_from_the_newest_event_not_the_whole_history():
    paid_customer()
    newest = TimelineEvent.objects.order_by("-id").values_list("id", flat=True).first()
    assert watermark().last_event_id == newest
    assert health_follow(actor=TASK).events == 0


def test_events_mark_their_customers_stale_once_and_the_recompute_clears_it():
    customer = paid_customer()
    recompute(customer)
    watermark()
    order = make_order(customer, state="paid")
    order_transition(order=order, to_state="shipped", actor=TASK)

    followed = health_follow(actor=TASK)

    assert followed.events >= 2 and followed.stale == 1
    assert HealthScore.objects.get(customer=customer).stale_since is not None
    assert health_recompute_stale(actor=TASK).customers == 1
    score = HealthScore.objects.get(customer=customer)
    assert score.stale_since is None and score.components["repeat_orders"]["value"] == 1


def test_a_customers_first_order_gives_it_a_score():
    watermark()
    customer = make_customer()
    make_order(customer, state="pending_payment")
    health_follow(actor=TASK)
    health_recompute_stale(actor=TASK)
    assert HealthScore.objects.get(customer=customer).score is not None


def test_a_crm_activity_makes_the_score_stale():
    customer = paid_customer()
    recompute(customer)
    watermark()
    timeline.crm_activity_event(customer_id=customer.pk, activity_type="call", activity_id="7", actor=TASK,
                                occurred_at=timezone.now()).save()
    assert health_follow(actor=TASK).stale == 1


@pytest.mark.parametrize(("to_state", "words"), [("refunded", "Refund"), ("partially_refunded", "Partial refund")])
def test_a_refund_moves_the_customer_to_at_risk_naming_the_order(to_state, words):
    customer = paid_customer(2)  # active: a refund of one of two orders leaves it a paying customer
    assert customer.stage == Stage.ACTIVE
    watermark()
    order = customer.orders.order_by("pk").first()
    order_transition(order=order, to_state=to_state, actor=TASK)

    assert health_follow(actor=TASK).refunds == 1

    customer.refresh_from_db()
    assert customer.stage == Stage.AT_RISK
    assert _stage_reason(customer) == f"{words} on order #{order.number}"
    assert health_follow(actor=TASK).refunds == 0  # read once


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_was_read_is_still_followed_once():
    customer = paid_customer(2)
    mark = watermark()
    # An open transaction took the next two ids; a later one committed its event first.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('lifecycle_timelineevent', 'id')), "
                       "nextval(pg_get_serial_sequence('lifecycle_timelineevent', 'id'))")
        late_ids = cursor.fetchone()
    timeline.crm_activity_event(customer_id=customer.pk, activity_type="note", activity_id="1", actor=TASK,
                                occurred_at=timezone.now()).save()
    health_follow(actor=TASK)
    assert [g[:2] for g in HealthWatermark.objects.get().gaps] == [[late_ids[0], late_ids[1]]]
    assert HealthWatermark.objects.get().last_event_id > mark.last_event_id

    # The open transaction commits: its refund lands under the watermark, and is followed.
    order = customer.orders.order_by("pk").first()
    TimelineEvent(id=late_ids[0], customer=customer, order=order, kind=EventKind.ORDER_STATE_CHANGED,
                  source=EventSource.SHOP, summary="refunded", data={"to": "refunded"},
                  **TASK.as_fields()).save(force_insert=True)
    assert health_follow(actor=TASK).refunds == 1
    assert [g[:2] for g in HealthWatermark.objects.get().gaps] == [[late_ids[1], late_ids[1]]]
    customer.refresh_from_db()
    assert customer.stage == Stage.AT_RISK
    assert health_follow(actor=TASK).refunds == 0
