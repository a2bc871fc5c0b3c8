"""The dashboard's reconciliation drift (issue 13, item 9): open state mismatches per system pair with
their ages and how many are past their SLA, the mismatches opened and resolved per day, the empty
states, and the snapshot's cost (two more queries, whatever the number of mismatches)."""

import html
import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lifecycle import statuses
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, OrderSourceState, ToleranceRule
from lifecycle.selectors import metrics
from lifecycle.selectors.drift import drift_figures
from lifecycle.services import reconcile as engine
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.observations import orders_observe
from lifecycle.values import CustomerRef, OrderObservation, OrderRef
from tests.factories import make_customer, make_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_dashboard")]
DASHBOARD = reverse("console:dashboard")
EXCEPTIONS = reverse("admin:lifecycle_exceptioncase_changelist")
SYSTEM = Actor.system("tests")
SHOP_ERP = "WooCommerce ↔ ERP"
ERP_CRM = "ERP ↔ CRM"
SHOP_REFUSED = "WooCommerce ↔ console"  # its note under it: REFUSED_NOTE
REFUSED_NOTE = "(a move the order's states do not allow)"
RULES = {("woocommerce", "erp"): "The shop says paid but the ERP has not released it to deliver",
         ("erp", "woocommerce"): "The ERP says cancelled or closed but the shop is still processing",
         ("erp", "crm"): "The ERP says delivered but the CRM does not"}





def _order(system="woocommerce"):
    return make_order(make_customer(), state="paid", system=system)


def _mismatch(*rules, order=None, **update):
    """An open state_mismatch as reconciliation opens it: `rules` are (left, right) system pairs."""
    order = order or _order()
    now = timezone.now().isoformat()
    systems = sorted({system for rule in rules for system in rule})
    evidence = {"source": "reconciliation", "order_state": "paid", "currency": "EUR",
                "systems": {s: {"system": s, "reported": True, "raw": "x", "canonical": "paid", "observed_at": now}
                            for s in systems},
                "rules": [{"id": i, "sentence": RULES[rule], "left": rule[0], "right": rule[1], "window_minutes": 120,
                           "since": now, "outside_since": now} for i, rule in enumerate(rules, start=1)]}
    return _raise(order, evidence, **update)


def _refused(order=None, keyed=True, **update):
    """A state_mismatch a refused move opened: the order's own system said a state the graph does not
    allow (its raw status under the system's name, unless not `keyed`)."""
    order = order or _order()
    evidence = {order.system: "refunded"} if keyed else {}
    evidence |= {"canonical": "cancelled", "wanted": "refunded"}
    return _raise(order, evidence, **update)


def _raise(order, evidence, **update):
    item, _ = exception_raise(kind="state_mismatch", subject_key=f"order:{order.pk}", summary=f"Order #{order.number}",
                              evidence=evidence, customer=order.customer, order=order, actor=SYSTEM)
    if update:
        ExceptionCase.objects.filter(pk=item.pk).update(**update)
    return item


def _text(fragment):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def _section(page):
    return re.search(r'<div id="drift".*?data-figures="drift-trend".*?</table>', page, re.S).group(0)



def _open_rows(page):
    """{pair: ([open, oldest, median age, past SLA], [links])} of the open-mismatches table."""
    table = re.search(r'data-figures="drift-open".*?</table>', page, re.S)
    if table is None:
        return {}
    rows = {}
    for label, cells in re.findall(r'<tr data-figure="([^"]*)">(.*?)</tr>', table.group(0), re.S):
        values = [_text(cell) for cell in re.findall(r'<td class="[^"]*text-right[^"]*"[^>]*>(.*?)</td>', cells, re.S)]
        rows[html.unescape(label)] = (values, [html.unescape(u) for u in re.findall(r'href="([^"]*)"', cells)])
    return rows


def _trend(page):
    """(the trend chart's data, its table's headers, {row label: [figures]} of the table under it)."""
    chart = json.loads(html.unescape(re.search(r'class="chart"[^>]*data-value="([^"]*)"', _section(page)).group(1)))
    table = re.search(r'data-figures="drift-trend".*?</table>', page, re.S).group(0)
    headers = [_text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    rows = {html.unescape(label): [int(v) for v in re.findall(r'text-right[^>]*>([^<]*)</td>', cells)]
            for label, cells in re.findall(r'<tr data-figure="([^"]*)">(.*?)</tr>', table, re.S)}
    return chart, headers, rows


def _listed(client, link):
    return client.get(link).context["cl"].result_count


# --- open mismatches per system pair -------------------------------------------------------------------
def test_open_mismatches_are_grouped_by_system_pair_with_their_ages_and_how_many_are_past_their_sla(staffed_manager_client):
    now = timezone.now()
    # Given three orders on which the shop and the ERP disagree: the oldest opened 2 days 3 hours ago
    # and breached, one 5 hours ago past due (the sweep has not marked it yet), one an hour ago within
    # its SLA; the last broke the rule read from the ERP's side (left ERP, right the shop): same pair
    _mismatch(("woocommerce", "erp"), opened_at=now - timedelta(days=2, hours=3),
              due_at=now - timedelta(days=1), breached_at=now - timedelta(days=1))
    _mismatch(("woocommerce", "erp"), opened_at=now - timedelta(hours=5), due_at=now - timedelta(minutes=10))
    _mismatch(("erp", "woocommerce"), opened_at=now - timedelta(hours=1), due_at=now + timedelta(hours=3))
    # and one the systems resolved, which no longer counts
    _mismatch(("woocommerce", "erp"), status="resolved", closed_at=now, opened_at=now - timedelta(days=9))

    # When the manager opens the dashboard
    page = staffed_manager_client.get(DASHBOARD).content.decode()

    # Then one row for the pair, in the systems' names: 3 open, the oldest 2d 3h, the median 5h, 2 late
    rows = _open_rows(page)
    assert list(rows) == [SHOP_ERP]
    values, links = rows[SHOP_ERP]
    assert values == ["3", "2d 3h", "5h 00m", "2"]
    assert "No order disagrees" not in page and "Not connected yet. Arrives with the ERP" not in page
    # And the pair links to the open state mismatches (the list has no pair filter, and the section says so),
    # the late count to the breached ones
    assert links == [f"{EXCEPTIONS}?kind__exact=state_mismatch",
                     f"{EXCEPTIONS}?view=breached&kind__exact=state_mismatch"]
    assert _listed(staffed_manager_client, links[0]) == 3
    assert _listed(staffed_manager_client, links[1]) == 1
    assert "cannot filter by pair" in _text(_section(page))
    assert "3 open state mismatches." in _text(_section(page))
    assert "counts under each" not in page


def test_an_order_disagreeing_in_two_pairs_counts_under_each_and_a_median_of_two_lies_between_them(staffed_manager_client):
    now = timezone.now()
    # Given one order on which the shop, the ERP and the CRM disagree (two pairs), opened 4 hours ago,
    # and one on which only the ERP and the CRM disagree, opened 2 hours ago
    _mismatch(("woocommerce", "erp"), ("erp", "crm"), opened_at=now - timedelta(hours=4))
    _mismatch(("erp", "crm"), ("erp", "crm"), opened_at=now - timedelta(hours=2))  # two rules, one pair: once

    page = staffed_manager_client.get(DASHBOARD).content.decode()
    rows = _open_rows(page)

    # Then the ERP ↔ CRM pair has both (most first), its median between them; the shop ↔ ERP pair has one
    assert list(rows) == [ERP_CRM, SHOP_ERP]
    assert rows[ERP_CRM][0] == ["2", "4h 00m", "3h 00m", "0"]
    assert rows[SHOP_ERP][0] == ["1", "4h 00m", "4h 00m", "0"]
    # And the section says why the pairs add up to more than the 2 open
    assert "2 open state mismatches. An order whose systems disagree in two pairs counts under each." in _text(
        _section(page))


def test_a_move_the_order_states_refused_is_its_system_against_the_console(staffed_manager_client):
    now = timezone.now()
    # Given a shop order whose refunded status the state graph refused, and an ERP order likewise
    # (its evidence without the system's name: the order says which); the shop order's mismatch also
    # carries the systems' disagreement reconciliation added since
    shop_order = _order()
    _refused(shop_order, opened_at=now - timedelta(days=1))
    case = ExceptionCase.objects.get(order=shop_order)
    ExceptionCase.objects.filter(pk=case.pk).update(evidence={
        **case.evidence, "source": "reconciliation", "rules": [{"left": "woocommerce", "right": "erp"}]})
    _refused(_order(system="erp"), keyed=False, opened_at=now - timedelta(hours=2))
    # and an ordinary shop ↔ ERP disagreement
    _mismatch(("woocommerce", "erp"), opened_at=now - timedelta(hours=3))

    page = staffed_manager_client.get(DASHBOARD).content.decode()
    rows = _open_rows(page)

    # Then each refused move counts against the console, under its own system's name, and only there,
    # saying what that means
    assert rows[SHOP_REFUSED][0] == ["1", "1d 0h", "1d 0h", "0"]
    assert rows["ERP ↔ console"][0] == ["1", "2h 00m", "2h 00m", "0"]
    assert f"{SHOP_REFUSED} {REFUSED_NOTE}" in _text(_section(page))
    assert rows[SHOP_ERP][0][0] == "1"
    assert list(rows)[0] == SHOP_ERP  # ties: the systems' pairs before the console's


def _observed(system, number, raw, meaning, minutes):
    """What the shop or the ERP says of order `number` (the ERP naming the shop's order by its number)."""
    shop = system == "woocommerce"
    return OrderObservation(
        system=system, namespace="main" if shop else "erpnext", external_id=str(number) if shop else f"SO-{number}",
        number=str(number), currency="EUR", total=Decimal("49.90"), refunded_total=Decimal(0),
        customer=CustomerRef(kind="woocommerce", namespace="main", account_id=str(number),
                             email=f"buyer{number}@example.com") if shop else CustomerRef(),
        raw_status=raw, meaning=meaning, placed_at=timezone.now() - timedelta(hours=1), paid_at=None,
        modified_at=timezone.now() - timedelta(minutes=60 - minutes),
        actor=Actor.webhook("main/d-1") if shop else Actor.import_run("ERP import #1"),
        **({} if shop else {"source_name": "ERPNext", "event_ref": f"erp-import:1/{number}",
                            "of_order": OrderRef("woocommerce", "main", str(number))}))


def test_the_erp_refusing_a_shop_order_s_move_or_naming_an_order_the_shop_never_reported(staffed_manager_client):
    # Given the shop's orders #1001 and #1002, completed
    orders_observe(observations=[_observed("woocommerce", n, "processing", statuses.PAID, 0) for n in (1001, 1002)])
    orders_observe(observations=[_observed("woocommerce", n, "completed", statuses.COMPLETED, 1)
                                 for n in (1001, 1002)])
    # When an ERP import cancels #1001 (a move its completed state does not allow) and names #1007,
    # which the shop never reported
    orders_observe(observations=[_observed("erp", 1001, "Cancelled", statuses.CANCELLED, 5),
                                 _observed("erp", 1007, "To Deliver", statuses.FULFILLING, 5)])

    page = staffed_manager_client.get(DASHBOARD).content.decode()
    rows = _open_rows(page)

    # Then the refusal is the ERP against the console (on the shop's order), and the order only the ERP
    # has counts between the shop and the ERP, said under the pair
    assert rows["ERP ↔ console"][0][0] == "1"
    assert rows[SHOP_ERP][0][0] == "1"
    assert f"{SHOP_ERP} 1 of them reported by one system only" in _text(_section(page))
    _chart, _headers, trend = _trend(page)
    assert trend[f"Opened: {SHOP_ERP}"][-1] == trend["Opened: ERP ↔ console"][-1] == 1


def test_a_mismatch_naming_no_systems_still_counts_under_no_pair(staffed_manager_client):
    _raise(_order(), {"note": "opened by hand"})
    _mismatch(("woocommerce", "erp"))
    _mismatch(("woocommerce", "erp"))

    rows = _open_rows(staffed_manager_client.get(DASHBOARD).content.decode())

    assert list(rows) == [SHOP_ERP, "No system pair recorded"]
    assert rows["No system pair recorded"][0][0] == "1"


def test_a_mismatch_reconciliation_opened_and_resolved_shows_in_the_section_and_the_trend(staffed_manager_client):
    # Given an order the shop says is processing and the ERP says is cancelled (a rule with no window)
    engine.status_meanings_register("erp", lambda: {"": {"Cancelled": "cancelled", "To Deliver": "fulfilling"}})
    try:
        at = timezone.now() - timedelta(minutes=30)
        order = make_order(make_customer(), state="paid", namespace="main", raw_status="processing", observed_at=at)
        OrderSourceState.objects.filter(order=order).update(received_at=at)
        OrderSourceState.objects.create(order=order, system="erp", raw_status="Cancelled", observed_at=at,
                                        received_at=at)

        # When reconciliation runs, the dashboard shows one shop ↔ ERP mismatch opened today
        assert engine.reconcile(full=True, actor=SYSTEM).opened == 1
        page = staffed_manager_client.get(DASHBOARD).content.decode()
        assert _open_rows(page)[SHOP_ERP][0][0] == "1"
        _chart, _headers, rows = _trend(page)
        assert rows[f"Opened: {SHOP_ERP}"][-1] == 1 and rows["Resolved"][-1] == 0

        # And once the ERP says it is being delivered, the next run resolves it and the section empties
        OrderSourceState.objects.filter(order=order, system="erp").update(raw_status="To Deliver")
        assert engine.reconcile(full=True, actor=SYSTEM).resolved == 1
        page = staffed_manager_client.get(DASHBOARD + "?refresh=1").content.decode()
    finally:
        engine.status_meanings_unregister("erp")
    assert _open_rows(page) == {}
    assert "No order disagrees between systems right now." in page
    _chart, _headers, rows = _trend(page)
    assert rows[f"Opened: {SHOP_ERP}"][-1] == 1 and rows["Resolved"][-1] == 1


# --- the trend per day ---------------------------------------------------------------------------------
def _day(days_ago, hour=12):
    """A moment `days_ago` days before today (console time zone), at `hour`; never in the future."""
    zone = timezone.get_current_timezone()
    today = timezone.localdate()
    moment = timezone.make_aware(datetime.combine(today - timedelta(days=days_ago), time(hour)), zone)
    return min(moment, timezone.now() - timedelta(seconds=1)) if days_ago == 0 else moment


def test_the_trend_counts_mismatches_opened_per_day_per_pair_and_resolved_per_day(staffed_manager_client):
    # Given shop ↔ ERP mismatches opened today (two), 3 days ago and 13 days ago (the first day shown),
    # one ERP ↔ CRM 3 days ago, a refused move yesterday, and one opened 14 days ago (before the window)
    for days_ago in (0, 0, 3, 13, 14):
        _mismatch(("woocommerce", "erp"), opened_at=_day(days_ago))
    _mismatch(("erp", "crm"), opened_at=_day(3))
    _refused(opened_at=_day(1))
    # and resolved: two yesterday (one of them opened before the window), one today; one dismissed today
    _mismatch(("woocommerce", "erp"), opened_at=_day(5), status="resolved", closed_at=_day(1))
    _mismatch(("woocommerce", "erp"), ("erp", "crm"), opened_at=_day(20), status="resolved", closed_at=_day(1))
    _mismatch(("erp", "crm"), opened_at=_day(2), status="resolved", closed_at=_day(0))
    _mismatch(("erp", "crm"), opened_at=_day(30), status="dismissed", closed_at=_day(0))

    page = staffed_manager_client.get(DASHBOARD).content.decode()
    chart, headers, rows = _trend(page)

    # Then 14 days, today last, a series per pair opened and one of resolved
    assert len(chart["labels"]) == 14 and headers[1:] == chart["labels"]
    assert chart["labels"][-1] == timezone.localdate().strftime("%b %-d")
    assert [d["label"] for d in chart["datasets"]] == [f"Opened: {SHOP_ERP}", f"Opened: {ERP_CRM}",
                                                       f"Opened: {SHOP_REFUSED} {REFUSED_NOTE}", "Resolved"]
    # And the table under the chart shows the bars' numbers, row for series
    assert list(rows) == [f"Opened: {SHOP_ERP}", f"Opened: {ERP_CRM}", f"Opened: {SHOP_REFUSED}", "Resolved"]
    assert list(rows.values()) == [d["data"] for d in chart["datasets"]]
    day = lambda days_ago: 13 - days_ago  # noqa: E731 - a column, from how many days ago
    opened = rows[f"Opened: {SHOP_ERP}"]
    assert (opened[day(0)], opened[day(3)], opened[day(5)], opened[day(13)], sum(opened)) == (2, 1, 1, 1, 5)
    assert rows[f"Opened: {ERP_CRM}"][day(3)] == 1 and rows[f"Opened: {ERP_CRM}"][day(2)] == 1
    assert sum(rows[f"Opened: {ERP_CRM}"]) == 2
    assert rows[f"Opened: {SHOP_REFUSED}"][day(1)] == 1
    # And resolved counts mismatches (the one of two pairs once), not the dismissed one
    assert rows["Resolved"][day(1)] == 2 and rows["Resolved"][day(0)] == 1 and sum(rows["Resolved"]) == 3
    # And the caption names each bar's colour (the chart has no legend)
    assert (f"Dark: opened, {SHOP_ERP}; medium: opened, {ERP_CRM}; light: opened, {SHOP_REFUSED} {REFUSED_NOTE}; "
            "green: resolved.") in _text(_section(page))


def test_the_days_are_the_console_time_zone_s(staffed_manager_client, settings):
    # Given the console in Berlin (UTC+1 or +2): a mismatch opened at 00:30 local time yesterday,
    # which is still the day before yesterday in UTC
    settings.TIME_ZONE = "Europe/Berlin"
    _mismatch(("woocommerce", "erp"), opened_at=_day(1, hour=0) + timedelta(minutes=30))

    _chart, _headers, rows = _trend(staffed_manager_client.get(DASHBOARD).content.decode())

    # Then it counts yesterday
    assert rows[f"Opened: {SHOP_ERP}"][12] == 1 and sum(rows[f"Opened: {SHOP_ERP}"]) == 1


# --- empty states ----------------------------------------------------------------------------------
def test_nothing_open_reads_as_a_sentence_and_the_trend_still_has_its_days(staffed_manager_client):
    assert ToleranceRule.objects.filter(active=True).exists()  # the shipped defaults

    page = staffed_manager_client.get(DASHBOARD).content.decode()

    assert "No order disagrees between systems right now." in page
    assert "No reconciliation rule is active" not in page
    _chart, headers, rows = _trend(page)
    assert rows == {"Opened": [0] * 14, "Resolved": [0] * 14} and len(headers) == 15


def test_without_an_active_rule_the_section_says_so_and_links_to_the_tolerances(staffed_manager_client):
    # Given every tolerance rule switched off
    ToleranceRule.objects.update(active=False)

    section = _section(staffed_manager_client.get(DASHBOARD).content.decode())

    # Then the section says nothing compares the systems, with the way to the tolerances (and does
    # not claim that nothing disagrees: nobody checked)
    assert "No reconciliation rule is active yet, so nothing compares the systems. Set the tolerances" in _text(
        section)
    assert "No order disagrees" not in section
    assert f'href="{reverse("admin:lifecycle_tolerancerule_changelist")}"' in section

    # And a refused move still shows beside that sentence (the state graph compares without rules)
    _refused()
    section = _section(staffed_manager_client.get(DASHBOARD + "?refresh=1").content.decode())
    assert "No reconciliation rule is active yet" in _text(section)
    assert "No order disagrees" not in _text(section) and SHOP_REFUSED in html.unescape(section)


# --- cost ----------------------------------------------------------------------------------------------
def _reads(captured):
    return [q["sql"] for q in captured if q["sql"].lstrip().startswith(("SELECT", "WITH"))]


def test_the_drift_costs_two_queries_whatever_the_number_of_mismatches(db):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            drift_figures(timezone.now())
            metrics.dashboard(timezone.now())
        return len(_reads(captured))

    _mismatch(("woocommerce", "erp"))
    few = queries()
    for days_ago in range(6):
        _mismatch(("woocommerce", "erp"), ("erp", "crm"), opened_at=_day(days_ago))
        _refused(opened_at=_day(days_ago), status="resolved", closed_at=_day(0))
    # Then the section's two queries, and the snapshot's ten, the same with 13 mismatches as with one
    assert queries() == few == 2 + 10
    figures = drift_figures(timezone.now())
    assert sum(item["count"] for item in figures.open) == 1 + 6 + 6
