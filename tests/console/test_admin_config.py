"""The admin's configuration screens (teams, agents, stage owners), customer search, query counts
of the other changelists, and the third-party admins restyled with unfold."""

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from unfold.admin import ModelAdmin as UnfoldModelAdmin

from lifecycle.models import Agent, Handoff, IdentityKind, Order, Ownership, Stage, StagePolicy, Team, TimelineEvent
from tests.factories import make_agent, make_customer, make_order, make_owned_customer, make_user, team

CUSTOMERS = reverse("admin:lifecycle_customer_changelist")


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


# --- teams, agents, stage owners --------------------------------------------------------------
def test_agent_cannot_edit_teams(client_for, support_agent):
    client = client_for(support_agent)
    support = team("support")
    assert client.get(url(Team, "add")).status_code == 403
    assert client.post(url(Team, "change", support.pk), {"name": "Hijacked"}).status_code == 403
    support.refresh_from_db()
    assert support.name == "Support"


def test_manager_edits_stage_owner_and_sees_its_history(client_for, manager):
    client = client_for(manager)
    policy = StagePolicy.objects.get(stage=Stage.LOYAL)

    response = client.post(url(StagePolicy, "change", policy.pk), {"team": team("sales").pk})

    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.team == team("sales")
    history = client.get(url(StagePolicy, "history", policy.pk))
    assert history.status_code == 200 and manager.username in history.content.decode()


def test_manager_adds_an_agent_picking_user_and_teams(client_for, manager):
    client = client_for(manager)
    newcomer = make_user("newcomer", first_name="Nia")
    found = client.get(reverse("admin:autocomplete"), {
        "app_label": "lifecycle", "model_name": "agent", "field_name": "user", "term": "newco",
    })
    assert [r["id"] for r in found.json()["results"]] == [str(newcomer.pk)]

    response = client.post(url(Agent, "add"), {
        "user": newcomer.pk, "teams": [team("support").pk, team("sales").pk], "capacity": 25, "is_available": "on",
    })

    assert response.status_code == 302
    agent = Agent.objects.get(user=newcomer)
    assert set(agent.teams.values_list("slug", flat=True)) == {"support", "sales"} and agent.capacity == 25


def test_manager_marks_agents_away(client_for, manager):
    agent = make_agent(teams=["support"])
    client_for(manager).post(url(Agent, "changelist"),
                             {"action": "mark_away", ACTION_CHECKBOX_NAME: [agent.pk], "index": 0})
    agent.refresh_from_db()
    assert agent.is_available is False


# --- search -----------------------------------------------------------------------------------
@pytest.mark.parametrize("term", ["Grace", "grace@example.com", "+1 (555) 010-0199", "WC-777", "ORDER-4242"])
def test_customer_search(client_for, manager, term):
    grace = make_customer(name="Grace Hopper", email="grace@example.com", phone="+15550100199",
                          identities=[(IdentityKind.WOOCOMMERCE, "shop", "WC-777")])
    make_order(grace, number="ORDER-4242")
    make_customer(name="Someone Else")

    response = client_for(manager).get(CUSTOMERS, {"q": term})

    assert [c.pk for c in response.context["cl"].result_list] == [grace.pk]


@pytest.mark.parametrize("model", [Handoff, TimelineEvent, Ownership, Order, Agent, Team])
def test_other_changelists_queries_do_not_grow_with_rows(client_for, manager, support_agent, model):
    client = client_for(manager)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(model, "changelist")).status_code == 200
        return len(captured)

    make_owned_customer(paid=True)
    few = queries()
    for i in range(5):
        make_owned_customer(paid=i % 2 == 0)
        make_agent(teams=["support", "sales"])
    assert queries() == few


# --- third-party admins on unfold -----------------------------------------------------------------
def test_user_group_and_beat_admins_render_with_unfold(client_for, manager):
    client = client_for(make_user("root", is_staff=True, is_superuser=True))
    for name in ("auth_user", "auth_group", "django_celery_beat_periodictask", "django_celery_beat_crontabschedule",
                 "django_celery_beat_intervalschedule"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    assert client.get(reverse("admin:auth_user_change", args=[manager.pk])).status_code == 200
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in {"lifecycle", "auth", "django_celery_beat"}:
            assert isinstance(model_admin, UnfoldModelAdmin), type(model_admin)
