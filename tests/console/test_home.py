"""The agent home: my queue oldest first with SLA countdowns, claim next, and the polled partial."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import ExceptionCase, Ownership
from lifecycle.services.exceptions import exception_raise
from lifecycle.services.ownership import ownership_transfer
from lifecycle.services.queues import exception_claim
from tests.factories import make_agent, make_owned_customer, make_user, team

pytestmark = pytest.mark.django_db
HOME = reverse("console:home")
PARTIAL = reverse("console:home_queue")
CLAIM = reverse("console:home_claim_next")
SYSTEM = Actor.system("tests")


def _reads(captured):
    """The reads among captured queries (not the savepoints and the JIT setting around them)."""
    return [q["sql"] for q in captured if q["sql"].lstrip().startswith(("SELECT", "WITH"))]


def _exception(slug="commerce", *, opened_hours_ago=1, due_in_hours=4, **update):
    """An open payment problem in `slug`'s queue, opened and due relative to now."""
    customer = make_owned_customer()
    item, _ = exception_raise(kind="payment_problem", subject_key=f"customer:{customer.pk}", summary="card declined",
                              customer=customer, actor=SYSTEM)
    now = timezone.now()
    ExceptionCase.objects.filter(pk=item.pk).update(
        queue=team(slug), opened_at=now - timedelta(hours=opened_hours_ago), due_at=now + timedelta(hours=due_in_hours),
        **update,
    )
    item.refresh_from_db()
    return item


@pytest.fixture
def agent(client):
    agent = make_agent(make_user("amira", group="Support agent"), teams=["commerce"])
    client.force_login(agent.user)
    return agent


def _claimed_by(agent, item):
    return exception_claim(exception=item, actor=Actor.for_user(agent.user))


def _ids(page, attribute):
    return [int(pk) for pk in re.findall(rf'data-{attribute}="(\d+)"', page)]


def test_home_lists_my_exceptions_oldest_first_with_sla_countdowns(client, agent):
    # Given three exceptions I claimed, opened 2, 30 and 5 hours ago, one of them overdue
    middle = _claimed_by(agent, _exception(opened_hours_ago=5))
    newest = _claimed_by(agent, _exception(opened_hours_ago=2))
    oldest = _claimed_by(agent, _exception(opened_hours_ago=30, due_in_hours=-3))
    someone_elses = _exception()
    # When I open my home
    page = client.get(HOME).content.decode()
    # Then they are listed oldest first, only mine, with the overdue one flagged
    assert _ids(page, "exception") == [oldest.pk, middle.pk, newest.pk]
    assert someone_elses.pk not in _ids(page, "exception")
    assert "overdue 3h" in page and "due in 3h" in page
    assert re.search(r'id="figure-overdue".*?>\s*1\s*<', page, re.S)


def test_home_lists_my_customers_that_wait_for_me(client, agent):
    # Given two customers I own: one with an unclaimed exception, one with nothing open
    waiting, fine = make_owned_customer(), make_owned_customer()
    for customer in (waiting, fine):
        ownership_transfer(customer=customer, team=team("commerce"), agent=agent, reason="test", actor=SYSTEM)
    exception_raise(kind="state_mismatch", subject_key=f"customer:{waiting.pk}", summary="shop and ERP disagree",
                    customer=waiting, actor=SYSTEM)
    # When I open my home
    page = client.get(HOME).content.decode()
    # Then only the waiting one is in "my customers that need action"
    assert _ids(page, "customer") == [waiting.pk]


def test_home_counts_what_waits_in_my_team_queues(client, agent):
    # Given two unclaimed exceptions in my team's queue and one in another team's
    _exception("commerce"), _exception("commerce"), _exception("support")
    # When I open my home
    page = client.get(HOME).content.decode()
    # Then the team figure says 2
    assert re.search(r'id="figure-team-unclaimed".*?>\s*2\s*<', page, re.S)


def test_claim_next_claims_the_oldest_open_item_of_my_teams(client, agent):
    # Given an older item in a team I am not in, and two in my team, the older one due first
    _exception("support", opened_hours_ago=50, due_in_hours=1)
    newer = _exception("commerce", opened_hours_ago=3, due_in_hours=6)
    older = _exception("commerce", opened_hours_ago=10, due_in_hours=2)
    # When I press "claim next"
    response = client.post(CLAIM, follow=True)
    # Then the oldest of my team's queue is mine and in progress, and the page says so
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.assignee, older.status) == (agent, "in_progress")
    assert newer.assignee is None
    # and I land on its customer's screen, at the exception, told what I claimed
    assert response.redirect_chain[-1][0] == reverse("console:customer", args=[older.customer_id]) + \
        f"#exception-{older.pk}"
    page = response.content.decode()
    assert "You claimed" in page and older.pk in _ids(page, "exception")


def test_claim_next_on_an_empty_queue_says_so(client, agent):
    # Given nothing in my teams' queues
    _exception("support")
    # When I press "claim next"
    page = client.post(CLAIM, follow=True).content.decode()
    # Then I am told there is nothing to claim and nothing was assigned
    assert "Nothing to claim" in page
    assert not ExceptionCase.objects.filter(assignee=agent).exists()


def test_claim_next_is_a_post(client, agent):
    assert client.get(CLAIM).status_code == 405


def test_the_page_polls_its_partial_which_renders_the_queue_alone(client, agent):
    # Given one item of mine
    mine = _claimed_by(agent, _exception())
    # When the page loads, it asks htmx to poll the partial every 30 s
    page = client.get(HOME).content.decode()
    assert f'hx-get="{PARTIAL}"' in page and 'hx-trigger="every 30s"' in page
    # And the partial is the queue block alone, fresh from the database
    partial = client.get(PARTIAL)
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body and _ids(body, "exception") == [mine.pk]
    assert "no-store" in partial.headers.get("Cache-Control", "") or "max-age=0" in partial.headers["Cache-Control"]


def test_the_partial_is_permission_checked(client):
    # Anonymous: 401, not a login page pasted into the block; a non-staff user: 403
    assert client.get(PARTIAL).status_code == 401
    client.force_login(make_user("someone"))
    assert client.get(PARTIAL).status_code == 403


def test_anonymous_users_get_the_login_page(client):
    response = client.get(HOME)
    assert response.status_code == 302 and reverse("admin:login") in response.url


def test_a_user_without_agent_profile_is_told_so(client):
    client.force_login(make_user("newcomer", group="Support agent"))
    page = client.get(HOME).content.decode()
    assert 'data-no-queue="agent"' in page and "no agent profile" in page and "ask a manager" in page
    assert CLAIM not in page, "no Claim next: there is nothing to claim for"
    page = client.post(CLAIM, follow=True).content.decode()
    assert "no agent profile" in page


def test_a_manager_without_agent_profile_is_sent_to_the_dashboard_and_the_managers_queue(client, manager):
    client.force_login(manager)
    page = client.get(HOME).content.decode()
    assert 'data-no-queue="manager"' in page and "as a manager you oversee the teams' queues" in page
    assert "ask a manager" not in page, "not told to ask themselves"
    links = re.search(r"<nav [^>]*data-links>(.*?)</nav>", page, re.S)[1]
    assert f'href="{reverse("console:dashboard")}"' in links
    assert f'href="{reverse("admin:lifecycle_exceptioncase_changelist")}?view=managers"' in links
    assert CLAIM not in page


def test_operations_are_told_what_their_role_looks_after_instead_of_a_queue(client, operations):
    client.force_login(operations)
    page = client.get(HOME).content.decode()
    assert 'data-no-queue="operations"' in page and "Operations has no queue" in page
    assert "agent profile" not in page and CLAIM not in page
    links = re.search(r"<nav [^>]*data-links>(.*?)</nav>", page, re.S)[1]
    assert f'href="{reverse("admin:integrations_storeconnection_changelist")}"' in links
    assert f'href="{reverse("admin:integrations_inboundevent_changelist")}?attention=problems"' in links
    assert reverse("console:dashboard") not in links
    assert client.get(PARTIAL).content.decode().count('data-no-queue="operations"') == 1


def test_the_site_root_and_admin_index_land_on_the_home(client, agent):
    assert client.get("/").url == HOME
    assert client.get(reverse("admin:index")).url == HOME


def test_the_queue_costs_the_same_queries_whatever_its_size(client, agent):
    # Given one item of mine and one customer waiting, then many more of each
    def add(n):
        for _ in range(n):
            item = _claimed_by(agent, _exception())
            ownership_transfer(customer=item.customer, team=team("commerce"), agent=agent, reason="t", actor=SYSTEM)
            exception_raise(kind="state_mismatch", subject_key=f"customer:{item.customer_id}", summary="x",
                            customer=item.customer, actor=SYSTEM)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PARTIAL).status_code == 200
        return len(_reads(captured))

    add(1)
    few = queries()
    add(6)
    # Then the partial runs the same number of queries, and few of them
    assert queries() == few
    assert few <= 12  # session, user, agent, permissions (2), the queue's 5 or 6, my overdue journey steps


def test_customers_waiting_for_an_agent_are_listed_and_claimed_from_home(client, agent):
    # Given my team (Commerce) with nobody who has room: I am off shift, so two customers wait
    agent.is_available = False
    agent.save()
    first, second = make_owned_customer(), make_owned_customer()
    # When I open my home
    page = client.get(HOME).content.decode()
    # Then both wait there, due first first, and the tile counts them
    assert _ids(page, "waiting") == [first.pk, second.pk]
    assert "Customers waiting for an agent" in page
    # When I claim the second one
    response = client.post(reverse("console:home_claim_customer", args=[second.pk]), follow=True)
    # Then it is mine, I land on its screen, and it no longer waits on my home
    assert Ownership.objects.get(customer=second).agent == agent
    assert response.redirect_chain[-1][0] == reverse("console:customer", args=[second.pk])
    assert _ids(client.get(HOME).content.decode(), "waiting") == [first.pk]


def test_claiming_a_customer_another_agent_took_says_who_has_it(client, agent):
    agent.is_available = False
    agent.save()
    customer = make_owned_customer()
    colleague = make_agent(teams=["commerce"])
    exception_claim(exception=ExceptionCase.objects.get(kind="unassigned_customer", customer=customer),
                    actor=Actor.for_user(colleague.user))
    page = client.post(reverse("console:home_claim_customer", args=[customer.pk]), follow=True).content.decode()
    assert f"{colleague} already owns" in page
    assert Ownership.objects.get(customer=customer).agent == colleague


def test_a_waiting_customer_is_claimed_from_its_screen(client, agent):
    agent.is_available = False
    agent.save()
    customer = make_owned_customer()
    screen = reverse("console:customer", args=[customer.pk])
    page = client.get(screen).content.decode()
    assert "waiting for an agent of Commerce" in page and "data-claim" in page
    response = client.post(reverse("console:home_claim_customer", args=[customer.pk]), {"from": "screen"},
                           follow=True)
    assert response.redirect_chain[-1][0] == screen
    assert Ownership.objects.get(customer=customer).agent == agent
    assert "data-claim" not in response.content.decode()
