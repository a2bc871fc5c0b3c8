"""A small world for the read API: customers owned by different teams, orders seen by two systems,
open and closed exceptions; clients that authenticate by token as each role."""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lifecycle.models import ExceptionCase, ExceptionKind, IdentityKind
from lifecycle.services.customers import customer_link_identity
from lifecycle.services.exceptions import exception_raise, exception_resolve
from lifecycle.services.ownership import ownership_transfer
from lifecycle.statuses import unmapped_subject
from tests.factories import SYSTEM, make_agent, make_customer, make_order, make_source_state, make_user, team


def token_client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@dataclass
class World:
    anna: object  # commerce-owned, two orders (one seen by the shop and the ERP), open + closed exceptions
    ben: object  # marketing-owned, one order
    carla: object  # no order, no owner
    anna_order: object
    anna_open: object
    ben_open: object


def hand_to(customer, slug):
    ownership_transfer(customer=customer, team=team(slug), reason="arranged by the test", actor=SYSTEM)
    customer.refresh_from_db()
    return customer


def wait_on_unmapped(customer, raw_status="shipped", namespace="main", **order):
    """An order (paid, newest) whose shop status nobody mapped, and that store's one open
    unmapped_status exception (no customer; the managers' queue), as the intake raises it."""
    order = make_order(customer, state="paid", raw_status=raw_status, namespace=namespace,
                       placed_at=timezone.now() + timedelta(minutes=1), **order)
    exception, _ = exception_raise(
        kind=ExceptionKind.UNMAPPED_STATUS, subject_key=unmapped_subject("woocommerce", namespace, raw_status),
        summary=f"Main Shop: WooCommerce status “{raw_status}” has no mapping", actor=SYSTEM,
        evidence={"store": namespace, "raw_status": raw_status, "example_order": order.number},
    )
    return order, exception


@pytest.fixture
def world(db):
    anna = make_customer(email="anna@example.com", name="Anna Schmidt")
    customer_link_identity(customer=anna, kind=IdentityKind.WOOCOMMERCE, namespace="main", value="501", actor=SYSTEM)
    customer_link_identity(customer=anna, kind=IdentityKind.CRM, namespace="hubspot", value="crm-77", actor=SYSTEM)
    now = timezone.now()
    first = make_order(anna, number="1041", placed_at=now - timedelta(days=3))
    latest = make_order(anna, number="1042", placed_at=now, raw_status="processing", state="paid")
    make_source_state(order=latest, system="erp", raw_status="To Deliver", observed_at=now + timedelta(minutes=5))
    anna_open, _ = exception_raise(kind=ExceptionKind.STATE_MISMATCH, subject_key=f"order:{latest.pk}",
                                   summary="shop paid, ERP not delivered", customer=anna, order=latest, actor=SYSTEM)
    exception_raise(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{first.pk}", summary="card declined",
                    customer=anna, order=first, actor=SYSTEM)
    exception_resolve(kind=ExceptionKind.PAYMENT_PROBLEM, subject_key=f"order:{first.pk}", reason="paid",
                      actor=SYSTEM)
    hand_to(anna, "commerce")
    ben = make_customer(email="ben@example.com", name="Ben Okafor")
    make_order(ben, number="2001")
    hand_to(ben, "marketing")
    ben_open, _ = exception_raise(kind=ExceptionKind.DUPLICATE_CUSTOMER, subject_key=f"customer:{ben.pk}",
                                  summary="looks like Benjamin", customer=ben, actor=SYSTEM)
    ExceptionCase.objects.filter(pk=ben_open.pk).update(queue=team("marketing"))
    carla = make_customer(email="carla@example.com", name="Carla Rossi")
    return World(anna=anna, ben=ben, carla=carla, anna_order=latest, anna_open=anna_open, ben_open=ben_open)


@pytest.fixture
def commerce_agent(db):
    user = make_user("commerce-agent", group="Support agent")
    make_agent(user, teams=["commerce"])
    return user


@pytest.fixture
def marketing_agent(db):
    user = make_user("marketing-agent", group="Support agent")
    make_agent(user, teams=["marketing"])
    return user
