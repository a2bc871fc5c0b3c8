"""The Content-Security-Policy in a real browser (issue 16, item 6): every main page of the console, the
admin (Unfold's Alpine.js, select2's autocomplete), Swagger UI and the console's own script work
under it, and Chromium reports no violation on any of them."""

import re

import pytest
from django.core.cache import cache

from integrations.erp.models import ErpImport
from integrations.stores import store_connect
from lifecycle.actors import Actor
from lifecycle.models import ExceptionKind
from lifecycle.services.exceptions import exception_raise
from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import SYSTEM, make_agent, make_customer, make_order, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded in the page before any of its scripts run: every violation, whatever reports it.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation it meets collected (the DOM event and Chromium's console)."""
    page.add_init_script(WATCH)
    console = []
    page.on("console", lambda message: console.append(message.text)
            if "Content Security Policy" in message.text else None)

    def violations():
        return console + page.evaluate("window.__violations || []")

    page.violations = violations
    return page


def visit(page, url):
    response = page.goto(url)
    assert response.status == 200, url
    assert "Content-Security-Policy" in {name.title() for name in response.headers} or \
        "content-security-policy" in response.headers, url
    page.wait_for_load_state("networkidle")
    assert page.violations() == [], url
    assert page.js_errors == [], url


def test_the_managers_pages_work_under_the_policy(watched, login, artifacts):
    page = watched
    cache.clear()  # the dashboard's cached figures of another test
    manager = make_user("maya", group="Manager", first_name="Maya", last_name="Chen")
    make_agent(manager, teams=["success"])
    ada = make_customer(name="Ada Lovelace", email="ada@example.com")
    make_customer(name="Ada Byron", email="byron@example.com")
    order = make_order(ada, number="700123", state="paid", raw_status="processing", namespace="main")
    exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{order.pk}", summary="Card declined",
                    actor=SYSTEM, customer=ada, order=order)

    login("maya")
    for url in ["/console/", "/console/dashboard/", f"/console/customers/{ada.pk}/",
                "/admin/lifecycle/customer/", "/admin/lifecycle/exceptioncase/?view=managers",
                "/admin/lifecycle/order/", "/admin/lifecycle/team/", "/admin/console/loginlockout/"]:
        visit(page, url)

    # Alpine runs (Unfold's user menu opens), and the header's search lists several matches
    page.locator("#customer-search").fill("Ada")
    page.press("#customer-search", "Enter")
    page.wait_for_url(re.compile(r"/console/search/"))
    expect(page.locator("tr[data-customer]")).to_have_count(2)
    assert page.evaluate("typeof window.Alpine === 'object' && Alpine.version.length > 0")

    # select2's autocomplete (the admin's search of agents on a team's page) fetches and shows matches
    visit(page, "/admin/lifecycle/agent/add/")
    page.locator(".select2-selection").first.click()
    page.locator(".select2-container--open .select2-search__field").fill("Ma")
    expect(page.locator(".select2-results__option").first).to_have_text("maya")
    page.keyboard.press("Escape")

    # Swagger UI draws the schema with its own scripts
    visit(page, "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Aftercare API")
    page.screenshot(path=str(artifacts / "csp-swagger.png"), full_page=False)
    assert page.violations() == [] and page.js_errors == []


def test_the_operations_pages_and_the_consoles_own_script_work_under_the_policy(watched, login, artifacts):
    page = watched
    make_user("olu", group="Operations", first_name="Olu", last_name="Adeyemi")
    store_connect(name="Main Shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                  consumer_secret="cs", webhook_secret="whsec", actor=Actor.system("tests"))
    batch = ErpImport.objects.create(filename="sales.csv", sha256="0" * 64, phase="reading", percent=40)

    login("olu")
    for url in ["/admin/integrations/storeconnection/", "/admin/integrations/storeconnection/add/",
                "/admin/integrations/inboundevent/", "/admin/erp/erpimport/", "/admin/erp/erpimport/upload/"]:
        visit(page, url)

    # console/static/console/erp_progress.js follows a running import by asking how far it is
    visit(page, f"/admin/erp/erpimport/{batch.pk}/preview/")
    ErpImport.objects.filter(pk=batch.pk).update(percent=70, lines_read=1234)
    expect(page.locator("[data-erp-percent]")).to_have_text("70", timeout=10_000)
    page.screenshot(path=str(artifacts / "csp-erp-progress.png"), full_page=False)
    assert page.violations() == [] and page.js_errors == []
