"""The queue screens: views, SLA countdowns, claim next, and actions that respect who may do what."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase
from lifecycle.services.exceptions import exception_raise
from tests.factories import make_agent, make_owned_customer, make_user, team

pytestmark = pytest.mark.django_db
QUEUE = reverse("admin:lifecycle_exceptioncase_changelist")


def _exception(slug="commerce", **update):
    customer = make_owned_customer()
    item, _ = exception_raise(kind="payment_problem", subject_key=f"customer:{customer.pk}", summary="card declined",
                              customer=customer, actor=Actor.system("tests"))
    ExceptionCase.objects.filter(pk=item.pk).update(queue=team(slug), **update)
    item.refresh_from_db()
    return item


@pytest.fixture
def agent_client(client):
    agent = make_agent(make_user("amira", group="Support agent"), teams=["commerce"])
    client.force_login(agent.user)
    return client, agent


def _action(client, action, items, **data):
    return client.post(QUEUE, {"action": action, ACTION_CHECKBOX_NAME: [i.pk for i in items], "index": 0, **data},
                       follow=True)


def test_claim_next_takes_the_oldest_item_and_opens_it(agent_client):
    client, agent = agent_client
    oldest, newer = _exception(), _exception()
    ExceptionCase.objects.filter(pk=oldest.pk).update(due_at=timezone.now() + timedelta(hours=1))
    ExceptionCase.objects.filter(pk=newer.pk).update(due_at=timezone.now() + timedelta(hours=5))
    # the list's link asks first and changes nothing
    assert client.get(reverse("admin:lifecycle_exceptioncase_claim_next")).status_code == 200
    assert ExceptionCase.objects.filter(assignee__isnull=False).count() == 0
    response = client.post(reverse("admin:lifecycle_exceptioncase_claim_next"), follow=True)
    # it lands on the customer screen, at the exception claimed
    assert response.redirect_chain[-1][0] == (reverse("console:customer", args=[oldest.customer_id])
                                              + f"#exception-{oldest.pk}")
    assert f'id="exception-{oldest.pk}"' in response.content.decode()
    oldest.refresh_from_db()
    assert (oldest.assignee, oldest.status) == (agent, "in_progress")


def test_my_queue_shows_mine_and_breached_shows_overdue_with_countdown(agent_client):
    client, agent = agent_client
    mine = _exception()
    client.post(reverse("admin:lifecycle_exceptioncase_claim_next"))
    overdue = _exception(due_at=timezone.now() - timedelta(hours=2), breached_at=timezone.now())
    page = client.get(QUEUE, {"view": "mine"}).content.decode()
    assert f"/{mine.pk}/change/" in page and f"/{overdue.pk}/change/" not in page
    page = client.get(QUEUE, {"view": "breached"}).content.decode()
    assert f"/{overdue.pk}/change/" in page and "overdue 2h" in page and f"/{mine.pk}/change/" not in page


def test_agent_is_not_offered_dismiss_and_a_forced_one_changes_nothing(agent_client):
    client, _ = agent_client
    item = _exception()
    choices = [value for value, _ in client.get(QUEUE).context["action_form"].fields["action"].choices]
    assert "claim" in choices and "dismiss" not in choices and "assign" not in choices
    _action(client, "dismiss", [item], apply="1", reason="noise")
    item.refresh_from_db()
    assert item.status == "open"


def test_agent_resolves_with_a_reason_through_the_page(agent_client):
    client, _ = agent_client
    item = _exception()
    page = _action(client, "resolve", [item])
    assert "reason" in page.content.decode()
    _action(client, "resolve", [item], apply="1", reason="paid by bank transfer")
    item.refresh_from_db()
    assert (item.status, item.resolution_reason) == ("resolved", "paid by bank transfer")


def test_manager_assigns_a_queue_item_to_an_agent(client, manager):
    item = _exception()
    agent = make_agent(teams=["commerce"])
    client.force_login(manager)
    response = _action(client, "assign", [item], apply="1", agent=agent.pk)
    item.refresh_from_db()
    assert item.assignee == agent
    assert "Assigned 1 exception" in response.content.decode()


def test_nobody_edits_an_exception_in_a_form(client, manager):
    item = _exception()
    client.force_login(manager)
    response = client.post(reverse("admin:lifecycle_exceptioncase_change", args=[item.pk]), {"summary": "edited"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.summary == "card declined"


def test_manager_rebalances_a_team_queue_from_the_team_list(client, manager):
    items = [_exception() for _ in range(4)]
    a, b = make_agent(teams=["commerce"]), make_agent(teams=["commerce"])
    client.force_login(manager)
    client.post(reverse("admin:lifecycle_team_changelist"),
                {"action": "rebalance_queue", ACTION_CHECKBOX_NAME: [team("commerce").pk], "index": 0})
    counts = sorted(ExceptionCase.objects.filter(pk__in=[i.pk for i in items], assignee__in=[a, b])
                    .values_list("assignee", flat=True))
    assert counts.count(a.pk) == 2 and counts.count(b.pk) == 2
