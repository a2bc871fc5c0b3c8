"""An empty list says what is missing in a plain sentence, and how to see everything again."""

import re

import pytest
from django.urls import reverse

from tests.factories import make_owned_customer

pytestmark = pytest.mark.django_db


def empty_box(page):
    """The empty state's box: from its marker to the end of its buttons."""
    assert "data-empty-results" in page, "the list shows its empty state"
    box = page.split("data-empty-results", 1)[1]
    return box[:box.index("</h2>") + 2000]


def heading(box):
    return re.search(r"<h2[^>]*>(.*?)</h2>", box, re.S).group(1).strip()


def test_an_empty_list_says_there_is_nothing_yet_and_offers_to_add(client, manager):
    client.force_login(manager)
    page = client.get(reverse("admin:lifecycle_holiday_changelist")).content.decode()
    box = empty_box(page)
    assert heading(box) == "No holidays yet."
    assert "Add holiday" in box
    assert "data-reset-filters" not in box, "nothing to reset when nothing narrows the list"
    assert "yielded" not in page and "No results found" not in page


def test_a_search_that_finds_nothing_says_so_and_links_back_to_everything(client, manager):
    make_owned_customer(name="Ada Lovelace")
    client.force_login(manager)
    page = client.get(reverse("admin:lifecycle_customer_changelist"), {"q": "nobody by this name"}).content.decode()
    box = empty_box(page)
    assert heading(box) == "No customers match these filters."
    reset = re.search(r'<a data-reset-filters href="([^"]*)"', box).group(1)
    assert reset == "?"
    # and following it lists the customer again
    everything = client.get(reverse("admin:lifecycle_customer_changelist") + reset).content.decode()
    assert "Ada Lovelace" in everything and "data-empty-results" not in everything


def test_a_filter_that_matches_nothing_reads_the_same_way(client, manager):
    make_owned_customer()  # an order pending payment, none refunded
    client.force_login(manager)
    page = client.get(reverse("admin:lifecycle_order_changelist"), {"state__exact": "refunded"}).content.decode()
    box = empty_box(page)
    assert heading(box) == "No orders match these filters."
    assert "data-reset-filters" in box
    assert "Add order" not in box, "orders come from the shops: nobody adds one here"
    assert "yielded" not in page
