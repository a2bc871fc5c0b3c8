"""The journey follower's and the health follower's locks on customers keep out other writers of those
customers, not the transactions writing rows that refer to them: a drain, an import or the journey
sweep committing events about a customer never waits for a follower's batch (the deadlocks the drill
found: such a commit's foreign-key check waited for the follower while the follower waited for it)."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from lifecycle.actors import Actor
from lifecycle.models import EventKind, TimelineEvent
from lifecycle.services.automation import Move, stages_move
from lifecycle.services.journeys.apply import follow_lock
from tests.lifecycle.journey_support import paid_customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _event_committed_beside(customer, order, hold):
    """While `hold()` runs in a transaction here, another connection writes and commits an event about
    the customer and its order, refusing to wait for a lock; what that writer got (None: committed)."""
    got, held, done = [], threading.Event(), threading.Event()

    def write():
        held.wait()
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                TimelineEvent.objects.create(customer_id=customer.pk, order_id=order.pk, kind=EventKind.NOTE,
                                             summary="written beside the follower")
            got.append(None)
        except OperationalError as error:
            got.append(error)
        finally:
            connection.close()
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    with transaction.atomic():
        hold()
        held.set()
        done.wait(30)
    writer.join(30)
    return got


def test_an_event_about_a_customer_commits_while_the_journey_follower_holds_the_customer():
    customer, order, _ = paid_customer()
    assert _event_committed_beside(customer, order, lambda: follow_lock([customer.pk])) == [None]


def test_an_event_about_a_customer_commits_while_the_health_follower_moves_the_customer():
    customer, order, _ = paid_customer()
    move = Move(customer.pk, "flag_at_risk", "Refund on order")
    got = _event_committed_beside(customer, order, lambda: stages_move([move], actor=Actor.task("tests")))
    assert got == [None]


def test_a_journey_follower_run_returns_at_once_while_another_run_follows():
    from lifecycle.services.journeys.follow import _one_run, journeys_follow

    paid_customer()  # a journey started, its events waiting for the follower
    running, done = threading.Event(), threading.Event()

    def first_run():
        with _one_run() as mine:
            assert mine
            running.set()
            done.wait(30)
        connection.close()

    first = threading.Thread(target=first_run)
    first.start()
    try:
        assert running.wait(30)
        # when another run comes (the beat's, or one queued by a journey's start), then it reads nothing,
        # without waiting for the first
        assert journeys_follow(actor=Actor.task("tests")) == 0
    finally:
        done.set()
        first.join(30)
    # and once the first is over, a run follows the events
    assert journeys_follow(actor=Actor.task("tests")) > 0
