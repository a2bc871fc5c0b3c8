"""Reconciliation runs: incremental by default (only orders whose systems spoke, or whose tolerance
window ended, since the last run), full on demand or when the rules change; the command, the beat
task, and rules as data (a CRM pair is a row, a store's own mappings count)."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ReconcileWatermark, ToleranceRule
from lifecycle.services import reconcile as engine
from lifecycle.services.reconcile import reconcile
from lifecycle.tasks import reconcile_orders
from tests.lifecycle.test_reconcile import ERP_MEANINGS, erp_says, is_open, mismatch, shop_order

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RUN = Actor.task("reconcile_orders")
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


@pytest.fixture(autouse=True)
def erp_meanings():
    registered = engine._meanings.get("erp"), engine._cached_meanings.get("erp")  # the integration's, put back after
    engine.status_meanings_register("erp", lambda: {"": ERP_MEANINGS})
    yield
    engine.status_meanings_unregister("erp")
    if registered[0] is not None:
        engine.status_meanings_register("erp", registered[0], cached=registered[1])


@pytest.fixture
def four_orders():
    """a, b, d agree (their systems last spoke long ago); c: the shop said paid at T0 and the ERP
    has a draft, so it disagrees, inside the 2-hour window until T0 + 2 h."""
    a = shop_order("processing", T0 - 10 * HOUR)
    erp_says(a, "To Deliver", T0 - 10 * HOUR)
    b = shop_order("completed", T0 - 100 * HOUR)
    erp_says(b, "Completed", T0 - 100 * HOUR)
    c = shop_order("processing", T0)
    erp_says(c, "Draft", T0)
    d = shop_order("processing", T0 - 10 * HOUR)
    erp_says(d, "To Deliver", T0 - 10 * HOUR)
    return a, b, c, d


def test_the_first_run_is_full_and_later_runs_compare_only_what_changed_or_came_due(four_orders):
    a, b, c, d = four_orders

    # when: the first run
    first = reconcile(now=T0 + 10 * MINUTE, actor=RUN)
    # then: every order compared; c disagrees but is inside its window
    assert first.full and first.evaluated_ids is None
    assert (first.outside, first.within, first.opened) == (0, 1, 0)

    # when: the ERP cancels a, and the next run comes
    erp_says(a, "Cancelled", T0 + 20 * MINUTE)
    second = reconcile(now=T0 + 30 * MINUTE, actor=RUN)
    # then: only a was compared, and its mismatch opened at once
    assert not second.full and second.evaluated_ids == [a.pk]
    assert second.opened == 1 and is_open(a)

    # when: c's window ends before the next run, and nothing else changed
    third = reconcile(now=T0 + 2 * HOUR + MINUTE, actor=RUN)
    # then: only c was compared, and its mismatch opened
    assert third.evaluated_ids == [c.pk] and third.opened == 1 and is_open(c)

    # when: a run with nothing new
    fourth = reconcile(now=T0 + 2 * HOUR + 6 * MINUTE, actor=RUN)
    # then: nothing compared, nothing changed
    assert fourth.evaluated_ids == [] and (fourth.opened, fourth.updated, fourth.resolved) == (0, 0, 0)
    assert mismatch(b) is None and mismatch(d) is None
    mark = ReconcileWatermark.objects.get()
    assert mark.last_run_at == T0 + 2 * HOUR + 6 * MINUTE and mark.last_full_at == T0 + 10 * MINUTE


def test_an_incremental_run_resolves_what_agrees_again(four_orders):
    a, *_ = four_orders
    erp_says(a, "Cancelled", T0)
    reconcile(now=T0 + 5 * MINUTE, actor=RUN)
    assert is_open(a)

    erp_says(a, "To Deliver", T0 + 10 * MINUTE)
    run = reconcile(now=T0 + 15 * MINUTE, actor=RUN)

    assert run.evaluated_ids == [a.pk] and run.resolved == 1 and not is_open(a)


def test_a_rule_edited_makes_the_next_run_full_and_keeps_its_history(four_orders, manager):
    reconcile(now=T0 + 10 * MINUTE, actor=RUN)
    assert manager.has_perm("lifecycle.change_tolerancerule")

    # when: a manager shortens the paid → released window to 5 minutes
    rule = ToleranceRule.objects.get(sentence__startswith="The shop says paid")
    rule.window_minutes = 5
    rule.save()
    run = reconcile(now=T0 + 11 * MINUTE, actor=RUN)

    # then: every order is compared again under the new rule; c is outside the shorter window
    assert run.full and is_open(four_orders[2])
    assert [h.window_minutes for h in rule.history.order_by("history_date")][-1] == 5


def test_the_shipped_rules_are_the_issues_defaults():
    rules = {(r.left_system, r.right_system, r.condition, r.window_minutes) for r in ToleranceRule.objects.all()}
    assert rules == {("woocommerce", "erp", "states", 120), ("woocommerce", "erp", "states", 48 * 60),
                     ("erp", "woocommerce", "states", 0), ("erp", "woocommerce", "states", 24 * 60),
                     ("woocommerce", "erp", "amounts", 0), ("woocommerce", "crm", "states", 24 * 60)}
    assert all(r.active and r.sentence for r in ToleranceRule.objects.all())


def test_a_crm_pair_is_a_row_not_code():
    # given: the CRM's meanings (its integration registers them) and a rule added as a row
    registered = (engine._meanings.get("crm"), engine._cached_meanings.get("crm"))
    engine.status_meanings_register("crm", lambda: {"": {"closedwon": "completed", "contractsent": "paid"}})
    try:
        ToleranceRule.objects.create(left_system="woocommerce", right_system="crm", left_states=["completed"],
                                     right_match="none", right_states=["completed"], window_minutes=60,
                                     sentence="The shop says completed, and the CRM deal is still open after 1 hour")
        order = shop_order("completed", T0)
        from lifecycle.models import OrderSourceState

        OrderSourceState.objects.create(order=order, system="crm", raw_status="contractsent", observed_at=T0,
                                        received_at=T0)

        # when / then: inside the hour nothing; past it, the mismatch names the CRM's word
        reconcile(order_ids=[order.pk], now=T0 + 59 * MINUTE, actor=RUN)
        assert mismatch(order) is None
        reconcile(order_ids=[order.pk], now=T0 + 61 * MINUTE, actor=RUN)
        assert is_open(order)
        crm = mismatch(order).evidence["systems"]["crm"]
        assert (crm["raw"], crm["canonical"]) == ("contractsent", "paid")
    finally:
        engine.status_meanings_unregister("crm")
        if registered[0]:  # the CRM integration's own meanings, for the tests after this one
            engine.status_meanings_register("crm", registered[0], cached=registered[1])


def test_a_stores_own_mapping_counts_for_its_orders_in_any_spelling():
    # given: store "main" maps the plugin status ready-for-pickup to paid; store "other" does not
    shop = engine._meanings["woocommerce"]
    engine.status_meanings_register("woocommerce", lambda: {**shop(), "main": {"ready-for-pickup": "paid"}})
    try:
        mapped = shop_order("processing", T0)
        unmapped = shop_order("processing", T0)
        from lifecycle.models import Order, OrderSourceState

        Order.objects.filter(pk=unmapped.pk).update(namespace="other")
        OrderSourceState.objects.filter(order__in=[mapped, unmapped], system="woocommerce").update(
            raw_status=" wc-Ready-For-Pickup")
        for order in (mapped, unmapped):
            erp_says(order, "Draft", T0)

        reconcile(order_ids=[mapped.pk, unmapped.pk], now=T0 + 3 * HOUR, actor=RUN)

        # then: main's order reads as paid (and disagrees with the ERP's draft); other's is not compared
        assert is_open(mapped) and mismatch(mapped).evidence["systems"]["woocommerce"]["canonical"] == "paid"
        assert mismatch(unmapped) is None
    finally:
        engine.status_meanings_register("woocommerce", shop)


def test_the_command_runs_a_full_pass_then_an_incremental_one(four_orders):
    a, *_ = four_orders
    erp_says(a, "Cancelled", T0)

    out = io.StringIO()
    call_command("reconcile", "--full", stdout=out)
    assert "Full reconciliation of every order" in out.getvalue()
    assert "2 outside tolerance" in out.getvalue() and "2 opened" in out.getvalue()
    assert is_open(a) and is_open(four_orders[2])

    out = io.StringIO()
    call_command("reconcile", stdout=out)
    assert "Incremental reconciliation of 0 orders changed or due since the last run" in out.getvalue()
    assert ExceptionCase.objects.filter(kind="state_mismatch").count() == 2


def test_the_beat_task_reconciles_every_five_minutes(four_orders):
    a, *_ = four_orders
    erp_says(a, "Cancelled", T0)

    done = reconcile_orders.apply().get()

    assert done["opened"] == 2 and is_open(a)
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-orders"]
    assert entry["task"] == "lifecycle.tasks.reconcile_orders" and entry["schedule"] == 300.0


def test_a_rule_switched_off_resolves_its_mismatches_saying_so(four_orders):
    a, *_ = four_orders
    erp_says(a, "Cancelled", T0)
    reconcile(now=T0 + 5 * MINUTE, actor=RUN)
    assert is_open(a)

    # when: managers switch every rule off
    ToleranceRule.objects.update(active=False)
    run = reconcile(now=T0 + 10 * MINUTE, actor=RUN)

    # then: a full pass (the rules changed) closes it, saying why, with what each system says now
    assert run.full and run.resolved == 1
    assert mismatch(a).resolution_reason == ("No active tolerance rule compares the ERP and the shop any more: "
                                             "the ERP says “Cancelled” (cancelled); the shop says “processing” (paid)")
