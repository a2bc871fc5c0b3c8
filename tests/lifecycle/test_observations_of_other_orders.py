"""A system reporting on an order born in another system (the ERP on the shop's order it names by
number) goes through the same observations: its own source state, the same graph, stale and unmapped
rules; it never creates an order, keeps what the console does not have as an orphan, and only lags."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lifecycle import statuses
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Order, OrderSourceState, TimelineEvent
from lifecycle.services import observations
from lifecycle.services.observations import orders_observe, orders_preview, orphan_subject, status_mapped
from lifecycle.values import CustomerRef, OrderObservation, OrderRef, Outcome

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SHOP = Actor.webhook("main/d-1")
IMPORT = Actor.import_run("ERP import #1")
SHOP_MEANS = {"pending": statuses.PENDING_PAYMENT, "processing": statuses.PAID, "completed": statuses.COMPLETED,
              "on-hold": statuses.ON_HOLD}
ERP_MEANS = {"Draft": statuses.PENDING_PAYMENT, "To Deliver": statuses.FULFILLING, "To Bill": statuses.DELIVERED,
             "Completed": statuses.COMPLETED, "Cancelled": statuses.CANCELLED, "Quotation": statuses.IGNORE}


def shop_says(n, raw, minutes=0):
    return OrderObservation(
        system="woocommerce", namespace="main", external_id=str(n), number=str(1000 + n),
        customer=CustomerRef(kind="woocommerce", namespace="main", account_id=str(n), email=f"buyer{n}@example.com"),
        raw_status=raw, meaning=SHOP_MEANS[raw], currency="EUR", total=Decimal("49.90"), refunded_total=Decimal(0),
        placed_at=T0, paid_at=None, modified_at=T0 + minutes * MINUTE, actor=SHOP)


def erp_says(number, raw, minutes=0, total="49.90", actor=IMPORT):
    result = statuses.map_status(raw, {statuses.status_key(k, "erp"): v for k, v in ERP_MEANS.items()}, "erp")
    meaning = result.state if result.outcome == statuses.CANONICAL else result.outcome
    return OrderObservation(
        system="erp", namespace="erpnext", external_id=f"SO-{number}", number=str(number), customer=CustomerRef(),
        raw_status=raw, meaning=meaning, currency="EUR", total=Decimal(total), refunded_total=Decimal(0),
        placed_at=T0, paid_at=None, modified_at=T0 + minutes * MINUTE, actor=actor, source_name="ERPNext",
        event_ref=f"erp-import:1/{number}", of_order=OrderRef("woocommerce", "main", str(number)))


def order(n):
    return Order.objects.get(external_id=str(n))


def erp_state(n):
    return OrderSourceState.objects.get(order__external_id=str(n), system="erp")


def open_cases(kind="state_mismatch"):
    return ExceptionCase.objects.filter(kind=kind, status__in=["open", "in_progress"])


def test_the_erp_sets_its_own_source_state_on_the_shop_order_and_moves_it_through_the_graph():
    # given: the shop's paid order #1001
    orders_observe(observations=[shop_says(1, "processing")])

    # when: the ERP says it is being delivered, with its own total
    [outcome] = orders_observe(observations=[erp_says(1001, "To Deliver", 5, total="51.00")])

    # then: the order moved; the ERP's word and total are its source state; the order's amounts are the shop's
    assert outcome == Outcome.APPLIED
    assert order(1).state == "fulfilling" and order(1).total == Decimal("49.90")
    state = erp_state(1)
    assert (state.raw_status, state.total, state.observed_at, state.event_ref) == (
        "To Deliver", Decimal("51.00"), T0 + 5 * MINUTE, "erp-import:1/1001")
    assert Order.objects.count() == 1
    assert TimelineEvent.objects.filter(kind="order_state_changed", source="erp").count() == 1


def test_an_erp_snapshot_that_skipped_warehouse_steps_passes_them_each_a_transition():
    orders_observe(observations=[shop_says(1, "processing")])

    # when: the ERP's next export already says delivered (paid → delivered is no move of the graph)
    orders_observe(observations=[erp_says(1001, "To Bill", 10)])

    # then: the order passed shipped on its way, each step an event in the ERP's name
    assert order(1).state == "delivered" and not open_cases().exists()
    steps = TimelineEvent.objects.filter(kind="order_state_changed", source="erp").order_by("pk")
    assert [(e.data["from"], e.data["to"]) for e in steps] == [("paid", "shipped"),
                                                                          ("shipped", "delivered")]


def test_an_older_erp_row_changes_nothing_and_the_same_row_again_neither():
    orders_observe(observations=[shop_says(1, "processing")])
    orders_observe(observations=[erp_says(1001, "To Bill", 10)])

    assert orders_observe(observations=[erp_says(1001, "To Deliver", 5)]) == [Outcome.STALE]
    assert orders_observe(observations=[erp_says(1001, "To Bill", 10)]) == [Outcome.STALE]
    assert erp_state(1).raw_status == "To Bill" and order(1).state == "delivered"


def test_an_erp_that_is_only_behind_the_shop_opens_nothing_but_a_real_conflict_does():
    # given: orders the shop completed
    orders_observe(observations=[shop_says(n, "processing") for n in (1, 2)])
    orders_observe(observations=[shop_says(n, "completed", 1) for n in (1, 2)])

    # when: the ERP is still delivering one (one move behind) and cancelled the other (no move leads on)
    orders_observe(observations=[erp_says(1001, "To Deliver", 5), erp_says(1002, "Cancelled", 5)])

    # then: both keep their state; only the cancelled one is a mismatch, saying what the ERP wanted
    assert order(1).state == order(2).state == "completed"
    [case] = open_cases()
    assert case.order_id == order(2).pk and case.evidence["wanted"] == "cancelled"
    assert erp_state(1).raw_status == "To Deliver"


def test_the_erp_agreeing_resolves_only_the_mismatch_its_own_refusal_raised():
    orders_observe(observations=[shop_says(n, "processing") for n in (1, 2)])
    orders_observe(observations=[shop_says(n, "completed", 1) for n in (1, 2)])
    orders_observe(observations=[erp_says(1001, "Cancelled", 5)])  # refused: the ERP's mismatch
    orders_observe(observations=[shop_says(2, "on-hold", 6)])  # refused: the shop's mismatch
    assert open_cases().count() == 2

    # when: the ERP now says completed for both
    orders_observe(observations=[erp_says(1001, "Completed", 10), erp_says(1002, "Completed", 10)])

    # then: the ERP's own mismatch resolves; the shop's disagreement is not the ERP's to clear
    [still] = open_cases()
    assert still.order_id == order(2).pk
    resolved = ExceptionCase.objects.get(order=order(1))
    assert resolved.status == "resolved" and "The ERP and the console agree again" in resolved.resolution_reason


def test_an_order_the_shop_never_reported_is_an_orphan_that_attaches_when_the_shop_reports_it():
    attached = []
    observations.orders_created_register(attached.extend)
    try:
        # when: the ERP names order #1007, which the shop has not reported
        [outcome] = orders_observe(observations=[erp_says(1007, "To Deliver", 5)])

        # then: nothing is created; a state_mismatch says "ERP only", in the managers' queue
        assert outcome == Outcome.ORPHAN and not Order.objects.exists()
        [case] = open_cases()
        assert case.subject_key == orphan_subject("erp", OrderRef("woocommerce", "main", "1007"))
        assert case.evidence["only"] == "ERP only" and case.queue_id is None and case.order_id is None
        assert case.summary == "Order #1007: ERP only, the shop has not reported it"

        # when: the shop reports it; the hook hears of it
        orders_observe(observations=[shop_says(7, "processing")])
        assert [o.number for o in attached] == ["1007"]

        # and the ERP's word is observed again (as the integration's hook does): it applies, the orphan resolves
        assert orders_observe(observations=[erp_says(1007, "To Deliver", 5)]) == [Outcome.APPLIED]
    finally:
        observations.orders_created_unregister(attached.extend)
    assert order(7).state == "fulfilling"
    case.refresh_from_db()
    assert case.status == "resolved"
    assert case.resolution_reason == "The shop reported order #1007: the ERP's word on it now applies to it"


def test_an_unmapped_erp_status_opens_unmapped_status_and_a_mapping_moves_the_waiting_orders():
    orders_observe(observations=[shop_says(1, "processing")])
    [outcome] = orders_observe(observations=[erp_says(1001, "Shipped by carrier", 5)])

    assert outcome == Outcome.APPLIED and order(1).state == "paid"
    [case] = open_cases("unmapped_status")
    assert case.subject_key == statuses.unmapped_subject("erp", "erpnext", "Shipped by carrier")
    assert erp_state(1).raw_status == "Shipped by carrier"

    moved = status_mapped(system="erp", namespace="erpnext", raw_status="Shipped by carrier", meaning="shipped",
                          actor=Actor.system("tests"), foreign=True)
    assert moved == 1 and order(1).state == "shipped"
    case.refresh_from_db()
    assert case.status == "resolved"


def test_a_quotation_for_an_order_nobody_has_is_ignored_not_an_orphan():
    assert orders_observe(observations=[erp_says(1009, "Quotation")]) == [Outcome.IGNORED]
    assert not ExceptionCase.objects.exists()


def test_the_preview_answers_what_the_observation_would_and_writes_nothing():
    orders_observe(observations=[shop_says(n, "processing") for n in (1, 2)])
    orders_observe(observations=[erp_says(1002, "To Bill", 10)])
    batch = [erp_says(1001, "To Deliver", 5), erp_says(1002, "To Deliver", 5), erp_says(1003, "To Deliver", 5),
             erp_says(1001, "To Bill", 6), erp_says(1001, "To Bill", 6)]
    before = (OrderSourceState.objects.count(), ExceptionCase.objects.count(), TimelineEvent.objects.count())

    preview = orders_preview(observations=batch)

    assert preview == [Outcome.APPLIED, Outcome.STALE, Outcome.ORPHAN, Outcome.APPLIED, Outcome.STALE]
    assert (OrderSourceState.objects.count(), ExceptionCase.objects.count(), TimelineEvent.objects.count()) == before
    assert orders_observe(observations=batch) == preview


def test_a_shop_version_of_the_same_second_is_judged_by_what_the_shop_said_not_by_what_the_erp_moved():
    # given: the shop's "processing", then the ERP's export saying delivered (the order moved on)
    orders_observe(observations=[shop_says(1, "processing")])
    orders_observe(observations=[erp_says(1001, "To Bill", 10)])
    assert order(1).state == "delivered"

    # when: the shop's "completed" of the same second as its "processing" arrives
    [outcome] = orders_observe(observations=[shop_says(1, "completed")])

    # then: it comes after what the shop said (paid), so it is applied: the shop's word is "completed"
    assert outcome == Outcome.APPLIED
    shop = OrderSourceState.objects.get(order=order(1), system="woocommerce")
    assert shop.raw_status == "completed" and order(1).state == "completed"
    note = TimelineEvent.objects.get(kind="same_second")
    assert note.data["decided_by"] == "states" and "comes after paid" in note.summary
    assert not open_cases().exists()


def test_the_shops_earlier_version_of_one_second_stays_out_after_another_system_moved_the_order():
    # given: the shop's "completed", then the ERP's delivered (behind the shop: nothing opened)
    orders_observe(observations=[shop_says(1, "completed")])
    orders_observe(observations=[erp_says(1001, "To Bill", 10)])

    # when: the shop's "processing" of the same second arrives late
    [outcome] = orders_observe(observations=[shop_says(1, "processing")])

    # then: completed → paid is no move of the graph: it came first and changes nothing
    assert outcome == Outcome.STALE
    assert OrderSourceState.objects.get(order=order(1), system="woocommerce").raw_status == "completed"
    assert order(1).state == "completed"
