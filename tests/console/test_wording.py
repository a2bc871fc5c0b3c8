"""What people read on the customer screen: routing decisions as sentences, actors as people name them."""

import html as html_lib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from integrations.models import InboundEvent
from integrations.stores import store_connect
from lifecycle import rules
from lifecycle.actors import Actor
from lifecycle.models import Handoff, Ownership, RoutingRule
from lifecycle.selectors.wording import Names, actor_text, routing_sentence, time_part
from lifecycle.services import timeline
from tests.factories import (
    SYSTEM,
    make_agent,
    make_customer,
    make_order,
    make_user,
    team,
)

NAMES = Names(teams={1: "Success", 2: "Commerce"},
              agents={7: "Amira Haddad", 8: "Hana Šimková", 9: "Jonas Økland"},
              rules={12: "EU shop"})


def detail(mode, *, team_id=1, agent_id=None, rule_id="stage_default", skipped=None, fallback=None, slot=None):
    return {"rule_id": rule_id, "stage": "onboarding", "team_id": team_id, "mode": mode, "agent_id": agent_id,
            "slot": slot, "skipped": skipped or {}, "fallback": fallback}


# --- the sentence -----------------------------------------------------------------------------------
def test_least_loaded_names_who_was_passed_over_and_why():
    sentence = routing_sentence("stage_default:onboarding/least_loaded",
                                detail("least_loaded", agent_id=9,
                                       skipped={"7": "at capacity (55/55)", "8": "off shift"}), NAMES)
    assert sentence == "Least loaded in Success; Amira Haddad was at capacity (55/55), Hana Šimková off shift"


def test_round_robin_by_a_routing_rule_names_the_rule():
    sentence = routing_sentence("rule:12/round_robin", detail("round_robin", team_id=2, agent_id=7, rule_id=12,
                                                              slot=3), NAMES)
    assert sentence == "Round robin in Commerce (routing rule “EU shop”)"


def test_sticky_keeps_the_previous_owner():
    sentence = routing_sentence("current_team:active/sticky", detail("sticky", agent_id=9, rule_id="current_team"),
                                NAMES)
    assert sentence == "Sticky in Success: kept Jonas Økland"


def test_sticky_falls_back_when_the_previous_owner_cannot_take_it():
    sentence = routing_sentence("stage_default:onboarding/sticky", detail(
        "sticky", agent_id=7, skipped={"9": "off shift", "8": "at capacity (40/40)"},
        fallback="previous owner 9 off shift: least loaded"), NAMES)
    assert sentence == ("Sticky in Success: Jonas Økland was off shift, so the least loaded took over; "
                        "Hana Šimková was at capacity (40/40)")

    no_previous = routing_sentence("stage_default:onboarding/sticky", detail(
        "sticky", agent_id=7, fallback="no previous owner in this team: least loaded"), NAMES)
    assert no_previous == "Sticky in Success: no previous owner in this team, so the least loaded took over"


def test_manual_reassignment():
    assert routing_sentence("manual", {}, NAMES) == "Reassigned by a manager"


def test_a_claim_and_a_waiting_customer_routed_when_room_appeared():
    assert routing_sentence("claim", {}, NAMES) == "Claimed by the agent"
    # routed from the waiting line inside its team: the team's mode, in words
    detail = {"mode": "least_loaded", "team_id": 3, "agent_id": 7, "skipped": {}, "fallback": None}
    assert routing_sentence("current_team:onboarding/least_loaded", detail, NAMES).startswith("Least loaded in ")


def test_nobody_could_take_the_customer():
    everyone_full = detail("least_loaded", skipped={"7": "at capacity (55/55)", "8": "at capacity (40/40)"})
    assert routing_sentence("stage_default:onboarding/least_loaded", everyone_full, NAMES) == (
        "Nobody in Success could take the customer: all at capacity")

    mixed = detail("round_robin", team_id=2, rule_id=12, skipped={"7": "at capacity (55/55)", "8": "off shift"})
    assert routing_sentence("rule:12/round_robin", mixed, NAMES) == (
        "Nobody in Commerce could take the customer (routing rule “EU shop”): "
        "Amira Haddad was at capacity (55/55), Hana Šimková off shift")


def test_unknown_names_and_labels_still_read():
    assert routing_sentence("rule:99/least_loaded", detail("least_loaded", team_id=5, agent_id=3, rule_id=99,
                                                           skipped={"4": "deactivated"}), Names()) == (
        "Least loaded in team #5 (routing rule “#99”); agent #4 was deactivated")
    assert routing_sentence("something_else", {}, NAMES) == "something_else"
    assert routing_sentence("", {}, NAMES) == ""


def test_actor_text_for_each_kind(db):
    user = make_user("amira", first_name="Amira", last_name="Haddad")
    when = timezone.now()
    assert actor_text("user", "amira", user=user) == "Amira Haddad"
    assert actor_text("webhook", "main/1234", when=when, store_names={"main": "Main shop"}) == (
        f"WooCommerce delivery {time_part(when)}, Main shop")
    assert actor_text("task", "sync_woocommerce") == "Shop sync"
    assert actor_text("task", "sweep_sla") == "SLA sweep"
    assert actor_text("task", "route_waiting_customers") == "Routing of waiting customers (an agent had room)"
    assert actor_text("task", "nightly_cleanup") == "Nightly cleanup"  # a task nobody named reads as its name
    assert actor_text("task", "HubSpot (CRM pull)") == "HubSpot (CRM pull)"  # the CRM's pulls name themselves
    assert actor_text("system", "system") == "System"
    assert actor_text("import", "ERP import #12") == "ERP import #12"
    olu = make_user("olu-words", first_name="Olu", last_name="Adeyemi")
    assert actor_text("import", "ERP import #12", user=olu) == "ERP import #12, by Olu Adeyemi"


# --- the customer screen ----------------------------------------------------------------------------
@pytest.fixture
def store(db):
    return store_connect(name="Main shop", slug="main", base_url="https://shop.example.com", consumer_key="ck",
                         consumer_secret="cs", webhook_secret="whsec", actor=SYSTEM)


@pytest.fixture
def routed_customer(store):
    """Owned by Success after a least-loaded decision that passed over two agents, and a delivery on the
    timeline whose ref is an inbound event's pk."""
    customer = make_customer(name="Ada Lovelace", email="ada@example.com")
    make_order(customer, state="paid", raw_status="processing", namespace="main")
    full = make_agent(make_user(first_name="Amira", last_name="Haddad"), teams=["success"], capacity=55)
    away = make_agent(make_user(first_name="Hana", last_name="Šimková"), teams=["success"], available=False)
    chosen = make_agent(make_user(first_name="Jonas", last_name="Økland"), teams=["success"])
    rule = RoutingRule.objects.create(name="EU shop", team=team("commerce"))
    seller = make_agent(teams=["commerce"])
    Handoff.objects.create(customer=customer, from_team=None, to_team=team("commerce"), to_agent=seller,
                           reason="First order", rule=f"rule:{rule.pk}/round_robin",
                           detail=detail("round_robin", team_id=team("commerce").pk, agent_id=seller.pk,
                                         rule_id=rule.pk, slot=0),
                           **Actor.task("sync_woocommerce").as_fields())
    event = InboundEvent.objects.create(store=store, topic="order.updated", body=b"{}", body_sha256="0" * 64)
    handoff = Handoff.objects.create(
        customer=customer, from_team=team("commerce"), to_team=team("success"), to_agent=chosen, reason="Paid",
        rule="stage_default:onboarding/least_loaded",
        detail=detail("least_loaded", team_id=team("success").pk, agent_id=chosen.pk,
                      skipped={str(full.pk): "at capacity (55/55)", str(away.pk): "off shift"}),
        **Actor.webhook(f"main/{event.pk}").as_fields())
    Ownership.objects.update_or_create(customer=customer, defaults={"team": team("success"), "agent": chosen,
                                                                   "last_handoff": handoff})
    timeline.record_customer_created(customer=customer, actor=Actor.webhook(f"main/{event.pk}"))
    return customer, handoff, event


SENTENCE = "Least loaded in Success; Amira Haddad was at capacity (55/55), Hana Šimková off shift"


def text(html):
    return " ".join(html_lib.unescape(strip_tags(html)).split())


def screen(customer):
    return reverse("console:customer", args=[customer.pk])


def test_manager_reads_decisions_and_actors_in_words_with_a_link_to_the_delivery(client_for, manager,
                                                                                  routed_customer):
    customer, handoff, event = routed_customer
    response = client_for(manager).get(screen(customer))
    page = response.content.decode()
    words = text(page)

    assert f"Decided by {SENTENCE}," in words, "the owner section says the decision"
    assert words.count(SENTENCE) == 2, "and so does the handoff history"
    assert "Round robin in Commerce (routing rule “EU shop”)" in words
    assert f'title="{handoff.rule}"' in page, "the raw label stays as a title"
    assert "Decided by rule" not in words and "Webhook delivery:" not in words
    delivery = f"WooCommerce delivery {time_part(handoff.created_at)}, Main shop"
    assert delivery in words
    assert "Shop sync" in words
    link = reverse("admin:integrations_inboundevent_change", args=[event.pk])
    links = re.findall(rf'<a href="{re.escape(link)}"[^>]*data-actor>([^<]*)</a>', page)
    assert len(links) == 3, "both the handoff rows and the timeline event link to the delivery"
    assert all(label.startswith("WooCommerce delivery ") and label.endswith(", Main shop") for label in links)
    assert client_for(manager).get(link).status_code == 200


def test_an_agent_without_the_delivery_permission_gets_no_link(client_for, support_agent, routed_customer):
    customer, handoff, event = routed_customer
    assert not support_agent.has_perm("integrations.view_inboundevent")

    page = client_for(support_agent).get(screen(customer)).content.decode()

    assert SENTENCE in text(page)
    assert f"WooCommerce delivery {time_part(handoff.created_at)}, Main shop" in text(page)
    assert reverse("admin:integrations_inboundevent_change", args=[event.pk]) not in page
    assert "inboundevent" not in page


def test_a_user_actor_reads_as_their_full_name(client_for, manager, routed_customer):
    customer, _, _ = routed_customer
    manager.first_name, manager.last_name = "Mara", "Quist"
    manager.save()
    client = client_for(manager)
    client.post(reverse("console:customer_move_stage", args=[customer.pk]), {"transition": "activate"})

    assert "Mara Quist" in text(client.get(screen(customer) + "?source=console").content.decode())


@pytest.mark.parametrize("role", ["manager", "support_agent"])
def test_words_stay_within_the_query_budget(request, client_for, routed_customer, role):
    from tests.console.test_customer_screen import SCREEN_MAX_QUERIES

    customer, _, _ = routed_customer
    client = client_for(request.getfixturevalue(role))
    client.get(screen(customer))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(screen(customer)).status_code == 200
    assert len(queries) <= SCREEN_MAX_QUERIES, "\n".join(q["sql"][:150] for q in queries)



def test_a_large_team_names_ten_passed_over_agents_and_counts_the_rest():
    loads = [rules.AgentLoad(agent_id=n, open_items=5, capacity=5) for n in range(1, 31)]
    loads.append(rules.AgentLoad(agent_id=99, open_items=0, capacity=5))
    decision = rules.RoutingDecision(rules.TeamChoice(3), rules.choose_agent(rules.LEAST_LOADED, loads), "onboarding")
    detail = decision.as_detail()
    assert len(detail["skipped"]) == rules.SKIPPED_SHOWN and detail["skipped_more"] == 20
    assert routing_sentence(decision.label, detail, NAMES).endswith("and 20 more were passed over")
