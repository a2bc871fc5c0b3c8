"""The read API's `crm` object (issue 14, item 5): a customer's contact in the connected CRM, its ids
(contact, owner) and lifecycle stage, and when it was last synced; null without a connection or a
contact; the owner hidden from roles that may not see owners; no query of its own, whatever the page."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils.dateparse import parse_datetime

from integrations.crm.models import CrmContact
from tests.api.conftest import token_client
from tests.console.crm_support import hub, sams_customer
from tests.factories import make_owned_customer

pytestmark = pytest.mark.django_db
CUSTOMERS = "/api/v1/customers/"


def crm_of(user, customer):
    response = token_client(user).get(f"{CUSTOMERS}{customer.pk}/")
    assert response.status_code == 200, response.content
    return response.json()["crm"]


def test_a_customer_in_hubspot_carries_its_contact_owner_and_stage_ids(manager):
    # given Ada delivered to HubSpot (Sam's, owner 11, stage customer)
    account = hub()
    ada = sams_customer(account)
    contact = CrmContact.objects.get(customer=ada)

    # then the API says what the console sent, until it reads HubSpot back
    crm = crm_of(manager, ada)
    assert crm == {"connection": "HubSpot", "contact_id": contact.contact_id, "owner_id": "11", "stage": "customer",
                   "synced_at": crm["synced_at"]}
    assert parse_datetime(crm["synced_at"]) == contact.last_synced_at

    # and, once a pull reads Ann (12) and lead there, what HubSpot says
    account.says(ada, owner="12", stage="lead")
    crm = crm_of(manager, ada)
    assert (crm["owner_id"], crm["stage"]) == ("12", "lead")
    assert parse_datetime(crm["synced_at"]) >= contact.last_synced_at


def test_no_crm_object_without_a_connection_or_a_contact(manager):
    ada = make_owned_customer(paid=True)
    assert crm_of(manager, ada) is None
    hub()
    bob = make_owned_customer(paid=True)  # queued, not delivered yet
    assert crm_of(manager, bob) is None


def test_roles_that_may_not_see_owners_get_no_owner_id(operations):
    account = hub()
    ada = sams_customer(account)
    crm = crm_of(operations, ada)
    assert crm["owner_id"] is None and crm["stage"] == "customer" and crm["contact_id"]


def test_the_crm_ids_cost_no_query_of_their_own_whatever_the_page(manager):
    # given one, then five customers in HubSpot
    account = hub()
    client = token_client(manager)
    sams_customer(account)

    def lookup():
        with CaptureQueriesContext(db) as captured:
            response = client.get(CUSTOMERS)
        assert response.status_code == 200
        return response.json()["results"], [q["sql"] for q in captured]

    lookup()  # the session's and the permissions' first reads
    one, one_sql = lookup()
    for n in range(4):
        sams_customer(account, name=f"Customer {n}", email=f"c{n}@example.com")
    five, five_sql = lookup()

    # then every customer carries its CRM ids, read with the page's own query of customers
    assert [c["crm"]["owner_id"] for c in five] == ["11"] * 5 and one[0]["crm"]["contact_id"]
    assert len(five_sql) == len(one_sql)
    assert [sql for sql in five_sql if '"crm_' in sql and not sql.startswith('SELECT "lifecycle_customer"')] == []
