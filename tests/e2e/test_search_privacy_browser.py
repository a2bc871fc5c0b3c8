"""The search box in a real browser (issue 16, item 9): what a person types never shows in an address,
and the results page still behaves like one: back from a customer returns to it, reload keeps it."""

import re

import pytest

from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import make_agent, make_owned_customer, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_search_leaves_no_term_in_any_address_and_back_and_reload_still_work(page, login, artifacts):
    make_agent(make_user("sam", group="Support agent", first_name="Sam", last_name="Rivera"),
               teams=["commerce", "success"])
    ada = make_owned_customer(name="Ada Lovelace", email="ada.lovelace@example.com")
    make_owned_customer(name="Ada Byron", email="ada.byron@example.com")
    addresses = []
    page.on("request", lambda request: addresses.append(request.url))

    # When Sam searches for "ada.lovelace" from the header's box, then for "Ada"
    login("sam")
    page.fill("#customer-search", "ada.lovelace@example.com")
    page.press("#customer-search", "Enter")
    page.wait_for_url(re.compile(rf"/console/customers/{ada.pk}/$"))  # one match: her screen
    page.fill("#customer-search", "Ada")
    page.press("#customer-search", "Enter")

    # Then both customers are listed, at an address without the term
    page.wait_for_url(re.compile(r"/console/search/\?s="))
    rows = page.locator("tr[data-customer]")
    expect(rows).to_have_count(2)
    expect(page.locator("input[name=q][autofocus]")).to_have_value("Ada")  # the page's own box
    page.screenshot(path=str(artifacts / "search-results.png"), full_page=True)

    # When he opens one and comes back, or reloads the list: the same list, no form sent again
    rows.first.locator("a").click()
    page.wait_for_url(re.compile(r"/console/customers/\d+/$"))
    page.go_back()
    expect(rows).to_have_count(2)
    page.reload()
    expect(rows).to_have_count(2)

    # And no address the browser asked for held what he typed
    typed = [url for url in addresses if re.search(r"ada|lovelace", url, re.IGNORECASE)]
    assert typed == []
    assert page.js_errors == []
