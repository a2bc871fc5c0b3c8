"""One way to show a moment: "4 Dec 2026, 14:03", relative when recent, the full date on hover."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags

from console.templatetags.when import when
from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, ExceptionKind, Handoff, Order, System
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.queues import exception_claim, exception_close
from tests.factories import make_agent, make_customer, make_order, make_owned_customer, make_source_state, make_user, team

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 12, 4, 17, 3, 27, tzinfo=UTC)
SYSTEM = Actor.system("tests")
NBSP = "\xa0"  # Django's "3 hours" keeps number and unit together


def parts(html):
    """(datetime attribute, title, text) of a rendered <time> element."""
    match = re.fullmatch(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', str(html))
    assert match, html
    return match.groups()


# --- the format --------------------------------------------------------------------------------
def test_every_named_format_writes_day_month_name_year_and_a_24_hour_clock():
    moment = datetime(2026, 12, 4, 14, 3, tzinfo=UTC)
    assert date_format(moment, "DATETIME_FORMAT") == "4 Dec 2026, 14:03"
    # templates that still ask for the short format get the same text: there is no second format
    assert date_format(moment, "SHORT_DATETIME_FORMAT") == "4 Dec 2026, 14:03"
    assert date_format(moment.date(), "SHORT_DATE_FORMAT") == date_format(moment.date(), "DATE_FORMAT") == "4 Dec 2026"


# --- the filter --------------------------------------------------------------------------------
def test_a_recent_moment_reads_relative_with_the_full_date_on_hover():
    iso, title, text = parts(when(NOW - timedelta(hours=3), now=NOW))
    assert text == f"3{NBSP}hours ago"
    assert title == "4 Dec 2026, 14:03 UTC"
    assert iso == "2026-12-04T14:03:27+00:00"


@pytest.mark.parametrize("offset, text", [
    (timedelta(seconds=-20), "just now"),
    (timedelta(minutes=-5), f"5{NBSP}minutes ago"),
    (timedelta(days=-2, hours=-3), f"2{NBSP}days ago"),
    (timedelta(hours=4, minutes=10), f"in 4{NBSP}hours"),
    (timedelta(days=3), f"in 3{NBSP}days"),
])
def test_relative_wording_within_a_week(offset, text):
    assert parts(when(NOW + offset, now=NOW))[2] == text


def test_beyond_a_week_the_date_itself_is_shown_both_ways():
    _iso, title, text = parts(when(NOW - timedelta(days=8), now=NOW))
    assert text == "26 Nov 2026, 17:03"
    assert title == "26 Nov 2026, 17:03 UTC"
    assert parts(when(NOW + timedelta(days=30), now=NOW))[2] == "3 Jan 2027, 17:03"


def test_absolute_style_always_shows_the_date():
    assert parts(when(NOW - timedelta(minutes=5), "absolute", now=NOW))[2] == "4 Dec 2026, 16:58"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_console_time_zone_is_what_people_read_and_it_is_named_on_hover():
    iso, title, text = parts(when(NOW - timedelta(days=10), now=NOW))
    assert text == "24 Nov 2026, 18:03"
    assert title == "24 Nov 2026, 18:03 CET"
    assert iso == "2026-11-24T18:03:27+01:00"


def test_a_date_without_time_and_nothing_at_all():
    assert parts(when(date(2026, 6, 1))) == ("2026-06-01", "1 Jun 2026", "1 Jun 2026")
    assert when(None) == ""


def test_templates_load_it_as_a_filter():
    html = Template('{% load when %}{{ at|when }} / {{ at|when:"absolute" }} / {{ missing|when|default:"—" }}').render(
        Context({"at": timezone.now() - timedelta(hours=2)}))
    first, second, third = html.split(" / ")
    assert parts(first)[2] == f"2{NBSP}hours ago"
    assert parts(second)[2] == parts(second)[1].rsplit(" ", 1)[0]  # the date, as on hover
    assert third == "—"


# --- admin lists -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_lists_show_moments_the_same_way_and_still_sort_by_them(client, manager):
    # Given two orders: one placed just now and one placed in March
    recent = make_owned_customer()
    old = make_owned_customer()
    old_order = make_order(old, placed_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    client.force_login(manager)

    # When a manager lists orders, newest placed first (sorted by the date column)
    page = client.get(reverse("admin:lifecycle_order_changelist") + "?o=-4").content.decode()

    # Then the March order reads as its date, the recent ones relatively, each with the full date on hover
    cells = re.findall(r'<td class="field-placed_at[^"]*">(.*?)</td>', page, re.S)
    assert len(cells) == Order.objects.count() == 3
    texts = [parts(cell.strip())[2] for cell in cells]
    assert texts[-1] == "1 Mar 2026, 09:30"
    assert all(text == "just now" for text in texts[:-1])
    assert parts(cells[-1].strip())[1] == "1 Mar 2026, 09:30 UTC"
    assert old_order.number in page and recent.display_name in page


@pytest.mark.django_db
def test_the_handoff_list_and_the_customer_page_inlines_use_it_too(client, manager):
    customer = make_owned_customer()
    client.force_login(manager)
    handoffs = client.get(reverse("admin:lifecycle_handoff_changelist")).content.decode()
    assert Handoff.objects.filter(customer=customer).exists()
    assert re.search(r'<time datetime="[^"]+" title="\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC">just now</time>', handoffs)

    change = client.get(reverse("admin:lifecycle_customer_change", args=[customer.pk])).content.decode()
    # the orders, handoffs and timeline tabs of the customer's admin record
    assert change.count("just now</time>") >= 3


@pytest.mark.django_db
def test_the_exception_list_shows_when_each_opened_that_way(client, manager):
    customer = make_owned_customer()
    exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"customer:{customer.pk}", summary="card declined",
                    customer=customer, actor=SYSTEM)
    client.force_login(manager)
    page = client.get(reverse("admin:lifecycle_exceptioncase_changelist")).content.decode()
    cells = re.findall(r'<td class="field-opened_at[^"]*">(.*?)</td>', page, re.S)
    assert len(cells) == ExceptionCase.objects.count() >= 1
    assert all(parts(cell.strip())[2] == "just now" for cell in cells)
    assert re.search(r'<th[^>]*class="[^"]*column-opened_at[^"]*"[^>]*>.*?opened', page, re.S | re.I), "its heading"


# --- the console's own pages ---------------------------------------------------------------------
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
TIME_ELEMENT = re.compile(r"<time [^>]*>.*?</time>", re.S)


def _dates_outside_time_elements(page):
    """Dates, clock times and durations people read that no <time> element wrote (another format)."""
    text = " ".join(strip_tags(TIME_ELEMENT.sub(" ", page)).split())
    return re.findall(rf"\b\d{{1,2}} (?:{MONTHS})\w* \d{{4}}\b|\b\d{{4}}-\d\d-\d\d\b|\b\d\d?:\d\d(?::\d\d)?\b"
                      rf"|\b\d+h \d\dm\b| ago\b|\b(?:{MONTHS})\w*\.? \d{{1,2}}, \d{{4}}", text)


@pytest.mark.django_db
def test_the_customer_screen_writes_every_moment_with_the_filter(client, manager):
    # Given an onboarding customer with a recent order, one from March, what the ERP said, and a closed exception
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    recent = make_order(customer, state="paid", raw_status="processing", namespace="main")
    make_order(customer, state="paid", namespace="main", placed_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    make_source_state(order=recent, system=System.ERP, raw_status="Completed", observed_at=timezone.now())
    problem, _ = exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{recent.pk}",
                                 summary="Card declined", customer=customer, order=recent, actor=SYSTEM)
    exception_close(exception=problem, actor=SYSTEM, reason="Paid by transfer", dismiss=False)
    client.force_login(manager)

    # When a manager opens the customer's screen
    page = client.get(reverse("console:customer", args=[customer.pk])).content.decode()

    # Then every moment is a <time> element: relative when recent, the date itself beyond a week
    words = " ".join(strip_tags(page).split())
    for said in ("first order 1 Mar 2026, 09:30", "changed just now", "Since just now", "seen just now"):
        assert said in words, said
    march = '<time datetime="2026-03-01T09:30:00+00:00" title="1 Mar 2026, 09:30 UTC">1 Mar 2026, 09:30</time>'
    assert page.count(march) >= 2, "the first order's date in the header, in its row (and on the timeline)"
    assert re.search(r'data-closed-exception="\d+">\s*<span class="text-subtle"><time [^>]*>just now</time>', page)
    assert re.search(r'<span class="text-subtle shrink-0 whitespace-nowrap w-40"><time [^>]*>just now</time>', page)
    # and no date, time or duration is written any other way
    assert _dates_outside_time_elements(page) == []


@pytest.mark.django_db
def test_the_home_says_just_now_for_what_just_arrived_and_when_it_was_updated(client):
    agent = make_agent(make_user("amira", group="Support agent"), teams=["commerce"])
    customer = make_owned_customer()
    item, _ = exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"customer:{customer.pk}",
                              summary="card declined", customer=customer, actor=SYSTEM)
    ExceptionCase.objects.filter(pk=item.pk).update(queue=team("commerce"))
    exception_claim(exception=ExceptionCase.objects.get(pk=item.pk), actor=Actor.for_user(agent.user))
    client.force_login(agent.user)

    page = client.get(reverse("console:home_queue")).content.decode()

    row = re.search(rf'data-exception="{item.pk}">(.*?)</tr>', page, re.S)[1]
    assert strip_tags(row.split("</td>")[0]).strip() == "just now", "not 0h 00m"
    updated = re.search(r"Updated (<time [^>]*>[^<]*</time>)\.", page)
    assert updated, "when the block was drawn"
    _iso, title, text = parts(updated[1])
    assert title.startswith(text) and re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d\d:\d\d", text)
