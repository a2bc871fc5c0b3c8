"""The CRM where people look, in a browser: HubSpot gives Ada to Ann while the console says Sam, and a
stage move waits to be sent. The manager reads both on Ada's screen, the agent the same, operations
the sync without owners; the dashboard says what waits and what died. Screenshots land in
var/test-artifacts/ (crm-*.png)."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from integrations.crm import deals
from integrations.crm.pulls import pull_actor
from lifecycle.actors import Actor
from lifecycle.models import Order
from lifecycle.services import reconcile as engine
from lifecycle.services.stages import customer_move_stage
from tests.console.crm_support import hub, sams_customer
from tests.e2e.conftest import expect  # None without playwright: the browser marker skips/fails first
from tests.factories import make_customer, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _world():
    engine.status_meanings_register("crm", deals.status_meanings, cached=deals.status_meanings_cached)
    account = hub()
    mia = make_user("mia", group="Manager", first_name="Mia", last_name="Okafor")
    make_user("olu", group="Operations", first_name="Olu", last_name="Adeyemi")
    ada = sams_customer(account)
    # HubSpot: someone gives Ada to Ann; the order's deal is won
    account.says(ada, owner="12", stage="customer")
    order = Order.objects.get(customer=ada)
    now = timezone.now()
    deals.deals_apply(connection=account.connection, actor=pull_actor(account.connection), facts=[deals.DealFact(
        deal_id="4242", modified_at=now, dealstage="closedwon", key=deals.order_key(order),
        name=f"Order #{order.number}", amount=str(order.total), currency=order.currency, created_at=now)])
    # a contact HubSpot refuses: a dead letter for the dashboard
    account.crm.refuse["typo@example"] = "Property values were not valid: email “typo@example” is not an address."
    make_customer(name="Typo Customer", email="typo@example")
    account.deliver()
    # the console: Mia flags Ada at risk; the move waits in the outbox
    customer_move_stage(customer=ada, transition="flag_at_risk", actor=Actor.for_user(mia))
    return account, ada


def test_a_manager_reads_hubspots_other_owner_and_the_change_on_its_way(page, login, artifacts):
    account, ada = _world()

    # the manager opens Ada's screen
    login("mia")
    page.goto(f"/console/customers/{ada.pk}/")
    owner = page.locator("section#owner")
    expect(owner).to_contain_text("Sam Rivera")
    expect(owner.locator("[data-crm-side]")).to_contain_text("In HubSpot: Ann Lee (Customer)")
    expect(owner.locator('[data-crm-note="differs"]')).to_contain_text(
        "HubSpot names Ann Lee as the owner; the console's is Sam Rivera; an open ownership conflict tracks it.")
    expect(owner.locator('[data-crm-note="pending"]')).to_contain_text(
        "Sending to HubSpot: lifecycle stage → At risk (Customer in HubSpot), queued")
    row = page.locator("section#orders tr", has_text=f"#{Order.objects.get(customer=ada).number}")
    expect(row).to_contain_text("Closed Won")
    expect(row).to_contain_text("from its HubSpot deal")
    page.screenshot(path=str(artifacts / "crm-customer-manager.png"), full_page=True)
    owner.screenshot(path=str(artifacts / "crm-owner-section-manager.png"))
    row.screenshot(path=str(artifacts / "crm-order-row-manager.png"))

    # the conflict link leads to the exception on the same page
    owner.locator("[data-crm-conflict]").click()
    expect(page.locator("section#exceptions")).to_contain_text("Ownership conflict")

    # the dashboard says what waits and what died
    cache.clear()  # the dashboard caches its figures (a test before this one may have filled it)
    page.goto("/console/dashboard/")
    sync = page.locator("#crm-sync")
    expect(sync.locator('[data-crm-figure="dead"]')).to_contain_text("HubSpot refused the contact")
    page.locator("#crm-sync").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "crm-dashboard-manager.png"), full_page=True)
    sync.screenshot(path=str(artifacts / "crm-dashboard-section-manager.png"))
    assert not page.js_errors

    # Sam, the agent, reads the same on Ada's screen
    page.context.clear_cookies()
    login("sam")
    page.goto(f"/console/customers/{ada.pk}/")
    expect(page.locator("section#owner [data-crm-side]")).to_contain_text("In HubSpot: Ann Lee (Customer)")
    page.screenshot(path=str(artifacts / "crm-customer-agent.png"), full_page=True)
    page.locator("section#owner").screenshot(path=str(artifacts / "crm-owner-section-agent.png"))

    # operations read the sync without owners, in a section of their own
    page.context.clear_cookies()
    login("olu")
    page.goto(f"/console/customers/{ada.pk}/")
    crm = page.locator("section#crm")
    expect(crm).to_contain_text("In HubSpot: lifecycle stage Customer")
    expect(crm).not_to_contain_text("Ann Lee")
    expect(crm.locator('[data-crm-note="pending"]')).to_contain_text("lifecycle stage → At risk")
    page.screenshot(path=str(artifacts / "crm-customer-operations.png"), full_page=True)
    crm.screenshot(path=str(artifacts / "crm-section-operations.png"))

    # and the connection's page: the last check and today's requests, counted in HubSpot's day
    page.goto(f"/admin/crm/crmconnection/{account.connection.pk}/change/")
    expect(page.locator("body")).to_contain_text("HubSpot's day, UTC; deliveries stop at 95%")
    page.screenshot(path=str(artifacts / "crm-connection-operations.png"), full_page=True)
    assert not page.js_errors
