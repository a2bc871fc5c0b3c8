"""Journeys start as customers enter onboarding: the playbook they match, its version, re-entry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from lifecycle.actors import Actor
from lifecycle.models import (
    EventKind,
    Journey,
    JourneyStatus,
    Order,
    OrderKind,
    Playbook,
    PlaybookStep,
    ReEntry,
    Stage,
    TimelineEvent,
)
from lifecycle.services.journeys.playbooks import PlaybookRefused, playbook_publish
from lifecycle.services.journeys.versions import DEFAULT_NAME, DEFAULT_STEPS
from lifecycle.services.orders import order_transition
from lifecycle.services.stages import customer_move_stage
from tests.factories import SYSTEM, make_customer, make_order, team
from tests.lifecycle.journey_support import DAY, journey_of, paid_customer

pytestmark = pytest.mark.django_db


def _playbook(name, *, priority, steps=(("call", "A call", "success", 3),), **conditions):
    playbook = Playbook.objects.create(name=name, priority=priority, **conditions)
    for i, (key, title, slug, days) in enumerate(steps, start=1):
        PlaybookStep.objects.create(playbook=playbook, position=i, key=key, name=title, team=team(slug),
                                    due_days=days, signals=["crm_activity", "touchpoint"])
    playbook_publish(playbook=playbook, actor=SYSTEM)
    return playbook


def test_a_first_paid_order_starts_the_default_journey_without_any_crm_or_erp_data():
    customer, order, paid_at = paid_customer(days_ago=2)

    assert customer.stage == Stage.ONBOARDING
    journey = journey_of(customer)
    assert (journey.playbook.name, journey.version.number, journey.status) == (DEFAULT_NAME, 1, JourneyStatus.RUNNING)
    assert journey.order == order and journey.started_at == paid_at
    steps = list(journey.steps.order_by("position"))
    assert [s.key for s in steps] == [key for key, *_ in DEFAULT_STEPS]
    for s, (_key, _name, slug, days, *_rest) in zip(steps, DEFAULT_STEPS, strict=True):
        assert s.team.slug == slug
        assert s.calendar_due_at == paid_at + days * DAY and s.due_at == s.calendar_due_at
        assert s.state == "pending" and s.customer_id == customer.pk
    started = TimelineEvent.objects.get(customer=customer, kind=EventKind.JOURNEY_STARTED)
    assert started.summary == f"Journey “{DEFAULT_NAME}” started: 7 steps, the last due on day 30"


def test_the_lowest_priority_playbook_whose_conditions_match_wins():
    _playbook("EU shop", priority=10, store="eu-shop")
    _playbook("Big baskets", priority=20, min_order_total=Decimal("500"))
    _playbook("Repeat buyers", priority=5, order_kind=OrderKind.REPEAT)

    eu, _, _ = paid_customer(namespace="eu-shop", total="900.00")
    big, _, _ = paid_customer(namespace="uk-shop", total="900.00")
    small, _, _ = paid_customer(namespace="uk-shop", total="20.00")

    assert journey_of(eu).playbook.name == "EU shop"  # a first order: not a repeat buyer's
    assert journey_of(big).playbook.name == "Big baskets"
    assert journey_of(small).playbook.name == DEFAULT_NAME


def test_a_playbook_for_a_product_category_matches_orders_with_a_product_in_it():
    _playbook("Garden", priority=10, product_categories=["garden"])
    customer = make_customer()
    order = make_order(customer)  # pending; the shop's lines name their categories
    Order.objects.filter(pk=order.pk).update(product_categories=["kitchen", "garden"])
    order.refresh_from_db()
    order_transition(order=order, to_state="paid", actor=SYSTEM)

    assert journey_of(customer).playbook.name == "Garden"


def test_an_inactive_or_unpublished_playbook_is_never_chosen():
    _playbook("Paused", priority=1, active=False)
    Playbook.objects.create(name="Draft", priority=2)  # never published: no version
    customer, _, _ = paid_customer()
    assert journey_of(customer).playbook.name == DEFAULT_NAME


def test_editing_a_playbook_changes_only_the_journeys_started_afterwards(manager):
    before, _, _ = paid_customer()
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    PlaybookStep.objects.filter(playbook=playbook, key="welcome_email").update(due_days=3, name="Welcome call")
    PlaybookStep.objects.create(playbook=playbook, position=8, key="day_45", name="Day 45", team=team("success"),
                                due_days=45, signals=["touchpoint"])
    version = playbook_publish(playbook=playbook, actor=Actor.for_user(manager))

    after, _, paid_at = paid_customer()

    assert version.number == 2 and version.published_by == manager
    old, new = journey_of(before), journey_of(after)
    assert old.version.number == 1 and old.steps.count() == 7
    assert old.steps.get(key="welcome_email").name == "Welcome & onboarding email"
    assert new.version.number == 2 and new.steps.count() == 8
    welcome = new.steps.get(key="welcome_email")
    assert (welcome.name, welcome.calendar_due_at) == ("Welcome call", paid_at + 3 * DAY)


def test_publishing_refuses_a_signal_nobody_sends_and_says_which():
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    PlaybookStep.objects.filter(playbook=playbook, key="welcome_email").update(signals=["crm_activity:fax"])

    with pytest.raises(PlaybookRefused, match="fax is not one of crm_activity's details"):
        playbook_publish(playbook=playbook, actor=SYSTEM)
    playbook.refresh_from_db()
    assert playbook.version == 1


def test_history_arriving_after_its_window_closed_starts_no_journey():
    customer, _, _ = paid_customer(days_ago=45)  # a store's backfill: paid six weeks ago
    assert customer.stage == Stage.ONBOARDING
    assert not Journey.objects.filter(customer=customer).exists()


def _back_to_onboarding(customer, manager):
    customer_move_stage(customer=customer, transition="activate", actor=SYSTEM, reason="arrange")
    customer_move_stage(customer=customer, transition="back_to_onboarding", actor=Actor.for_user(manager),
                        reason="Restarting the setup with the customer")


def _end(journey, days_ago):
    Journey.objects.filter(pk=journey.pk).update(status=JourneyStatus.COMPLETED,
                                                 ended_at=timezone.now() - days_ago * DAY)


@pytest.mark.parametrize("rule, ended_days_ago, again", [
    (ReEntry.AFTER_DAYS, 10, False),
    (ReEntry.AFTER_DAYS, 100, True),
    (ReEntry.NEVER, 400, False),
    (ReEntry.ALWAYS, 1, True),
])
def test_re_entry_follows_the_playbooks_rule(manager, rule, ended_days_ago, again):
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    playbook.re_entry = rule
    playbook.save()
    playbook_publish(playbook=playbook, actor=SYSTEM)
    customer, _, _ = paid_customer(days_ago=3)
    _end(journey_of(customer), ended_days_ago)

    _back_to_onboarding(customer, manager)

    journeys = Journey.objects.filter(customer=customer).order_by("started_at")
    assert journeys.count() == (2 if again else 1)
    if again:  # a person's restart: day 0 is the restart itself
        assert timezone.now() - journeys.last().started_at < timedelta(minutes=1)


def test_a_running_journey_is_never_doubled(manager):
    customer, _, _ = paid_customer(days_ago=3)
    _back_to_onboarding(customer, manager)
    assert Journey.objects.filter(customer=customer).count() == 1


def test_a_customer_whose_playbook_refuses_re_entry_gets_the_next_matching_one(manager):
    _playbook("Second chance", priority=200, re_entry=ReEntry.ALWAYS)
    customer, _, _ = paid_customer(days_ago=3)
    _end(journey_of(customer), 5)  # the default's gap (90 days) has not passed

    _back_to_onboarding(customer, manager)

    assert Journey.objects.get(customer=customer, status=JourneyStatus.RUNNING).playbook.name == "Second chance"
