"""Through the webhook: a state_mismatch opened by a refused move closes itself once the shop's
status and the order agree again, whoever brings them together (the shop, or a manager's mapping)."""

import pytest

from integrations.woocommerce.status_mappings import status_mapping_set
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionStatus, Order, TimelineEvent

pytestmark = pytest.mark.django_db


def _bump(payload, modified, **changes):
    return {**payload, "date_modified_gmt": modified, **changes}


def test_the_shop_agreeing_again_resolves_the_mismatch(deliver, store, wc_order):
    # given: a completed order the shop then says is pending payment (refused: a mismatch owns it)
    deliver(wc_order, topic="order.created")
    deliver(_bump(wc_order, "2017-03-23T10:00:00", status="completed"), delivery_id="d-2")
    deliver(_bump(wc_order, "2017-03-24T10:00:00", status="pending"), delivery_id="d-3")
    exception = ExceptionCase.objects.get(kind="state_mismatch")
    assert exception.is_open and Order.objects.get().state == "completed"

    # when: the shop says completed again
    deliver(_bump(wc_order, "2017-03-25T10:00:00", status="completed"), delivery_id="d-4")

    # then: resolved by that delivery, with the reason in words
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED
    assert exception.resolution_reason == "The shop and the console agree again: completed"
    event = TimelineEvent.objects.get(kind="exception_resolved", order=exception.order)
    assert (event.actor_kind, event.actor_ref) == ("webhook", "main/d-4")


def test_a_managers_mapping_that_brings_them_together_resolves_it(deliver, store, wc_order, manager):
    # given: a paid order the shop said was pending (refused), then a plugin status nobody mapped
    deliver(wc_order, topic="order.created")
    deliver(_bump(wc_order, "2017-03-23T10:00:00", status="pending"), delivery_id="d-2")
    deliver(_bump(wc_order, "2017-03-24T10:00:00", status="ready-for-pickup"), delivery_id="d-3")
    mismatch = ExceptionCase.objects.get(kind="state_mismatch")
    assert mismatch.is_open and Order.objects.get().state == "paid"

    # when: a manager maps the plugin status to a state the order may move to
    moved = status_mapping_set(store=store, raw_status="ready-for-pickup", canonical="completed",
                               actor=Actor.for_user(manager))

    # then: the order follows the shop, and its mismatch is resolved in the manager's name
    assert moved == 1 and Order.objects.get().state == "completed"
    mismatch.refresh_from_db()
    assert mismatch.status == ExceptionStatus.RESOLVED
    assert mismatch.resolution_reason == "The shop and the console agree again: completed"
    event = TimelineEvent.objects.get(kind="exception_resolved", order=mismatch.order)
    assert event.actor_user == manager
