"""What an outsider can do with the webhook address (issue 16, item 5): resend a delivery the shop
signed long ago, which must change nothing, and flood a store with refusals, which are recorded up
to a rate per store while the shop's signed deliveries are always accepted."""

import logging

import pytest
from django.core.cache import cache

from integrations.models import InboundEvent
from integrations.woocommerce import refusals
from lifecycle.models import ExceptionCase, Order, OrderSourceState, TimelineEvent

pytestmark = pytest.mark.django_db
S = InboundEvent.Status


@pytest.fixture(autouse=True)
def _fresh_counts():
    """The refusal counts live in the cache, per process: no test inherits another's minute."""
    cache.clear()
    yield
    cache.clear()


def version(order, status, modified):
    return {**order, "status": status, "date_modified_gmt": modified}


def what_the_console_knows():
    order = Order.objects.get()
    return (order.state, list(OrderSourceState.objects.values_list("system", "raw_status", "observed_at")),
            TimelineEvent.objects.count(), ExceptionCase.objects.count())


# --- a signed delivery replayed long after ------------------------------------------------------------
def test_every_signed_delivery_resent_long_after_changes_nothing(deliver, store, wc_order, monkeypatch):
    # given: the shop created the order, had it paid, completed it, then trashed and restored it
    history = [
        (version(wc_order, "pending", "2017-03-22T16:00:00"), "order.created"),
        (version(wc_order, "processing", "2017-03-22T16:30:00"), "order.updated"),
        (version(wc_order, "completed", "2017-03-24T09:00:00"), "order.updated"),
        ({"id": 727}, "order.deleted"),
        (version(wc_order, "completed", "2017-03-25T10:00:00"), "order.restored"),
    ]
    for n, (payload, topic) in enumerate(history):
        assert deliver(payload, topic=topic, delivery_id=f"d-{n}").status_code == 200
    before = what_the_console_knows()
    assert before[0] == "completed"

    # when: someone who captured them resends every one, signature and all, years after their dates
    # (the deletion of the restored order is checked with the shop, which has it completed)
    asked = []
    monkeypatch.setattr("integrations.woocommerce.client.StoreClient.order_status",
                        lambda client, order_id: asked.append(order_id) or "completed")
    responses = [deliver(payload, topic=topic, delivery_id=f"replay-{n}") for n, (payload, topic) in enumerate(history)]

    # then: each is accepted (it is the shop's) and kept, and changes nothing: no state, no source
    # state, no timeline event, no exception; each is marked a duplicate of the delivery it repeats
    assert [r.status_code for r in responses] == [200] * len(history)
    assert what_the_console_knows() == before
    replays = InboundEvent.objects.filter(delivery_id__startswith="replay-")
    assert set(replays.values_list("status", flat=True)) == {S.DUPLICATE}
    assert asked == ["727"]


def test_an_earlier_version_first_seen_long_after_is_stale_and_changes_nothing(deliver, store, wc_order):
    # given: the shop's newest version is processed
    deliver(version(wc_order, "completed", "2017-03-24T09:00:00"))
    before = what_the_console_knows()[:2]

    # when: an earlier version the console never saw arrives, signed, long after
    deliver(version(wc_order, "on-hold", "2017-03-22T16:30:00"), delivery_id="late")

    # then: it is kept as stale, and the order and what the shop says of it are unchanged
    assert InboundEvent.objects.get(delivery_id="late").status == S.STALE
    assert what_the_console_knows()[:2] == before


# --- refusals recorded up to a rate per store ---------------------------------------------------------
def test_past_the_rate_refusals_get_429_unrecorded_and_signed_deliveries_are_still_accepted(
        deliver, store, wc_order, settings, caplog):
    settings.AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE = 3
    # given: three unsigned posts this minute, recorded for operators as rejected
    assert [deliver(wc_order, signature=False).status_code for _ in range(3)] == [401] * 3
    assert InboundEvent.objects.filter(status=S.REJECTED).count() == 3

    # when: the flood goes on, with bad signatures, malformed bodies and bodies over the size limit
    with caplog.at_level(logging.WARNING, logger=refusals.__name__):
        flood = [deliver(wc_order, signature="A" * 43 + "=") for _ in range(5)]
        flood.append(deliver(None, body=b"{not json"))
        settings.AFTERCARE_WEBHOOK_MAX_BYTES = 10
        flood.append(deliver(wc_order))
        settings.AFTERCARE_WEBHOOK_MAX_BYTES = 2_621_440

    # then: each is answered 429 with when to try again, or 413 for the body too large, and none is
    # recorded; the log says so once
    assert [r.status_code for r in flood] == [429] * 6 + [413]
    assert flood[0]["Retry-After"] == "60"
    assert "Deliveries with a valid signature are still accepted" in flood[0].json()["error"]
    assert InboundEvent.objects.count() == 3
    [warning] = [r.getMessage() for r in caplog.records if r.name == refusals.__name__]
    assert "3 refused deliveries this minute" in warning

    # and: the shop's own signed deliveries in the same minute are accepted and processed, however many
    orders = [{**wc_order, "id": 700 + n, "number": str(700 + n)} for n in range(10)]
    assert [deliver(order, delivery_id=f"s-{n}").status_code for n, order in enumerate(orders)] == [200] * 10
    assert InboundEvent.objects.filter(status=S.PROCESSED).count() == 10
    assert Order.objects.count() == 10


def test_the_rate_is_per_store(deliver, store, wc_order, settings):
    from integrations.stores import store_connect
    from lifecycle.actors import Actor

    settings.AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE = 1
    store_connect(name="Second Shop", slug="second", base_url="https://second.example.com", consumer_key="ck",
                  consumer_secret="cs", webhook_secret="whsec-second", actor=Actor.system("tests"))
    assert [deliver(wc_order, signature=False).status_code for _ in range(2)] == [401, 429]
    assert deliver(wc_order, slug="second", signature=False).status_code == 401  # recorded: its own count


def test_a_new_minute_records_refusals_again(store, settings):
    settings.AFTERCARE_WEBHOOK_REFUSALS_PER_MINUTE = 2
    now = [60 * 16_667 + 20.0]  # 20 s into a minute

    def clock():
        return now[0]

    assert [refusals.may_record(store.pk, clock) for _ in range(3)] == [True, True, False]
    now[0] += 39  # still the same minute
    assert refusals.may_record(store.pk, clock) is False
    now[0] += 1  # the next one
    assert refusals.may_record(store.pk, clock) is True


# --- floods never make the known stores' deliveries read their secrets again -------------------------
def test_unknown_slugs_and_forged_signatures_leave_the_other_stores_kept_secrets_alone(deliver, store, wc_order,
                                                                                        monkeypatch):
    from django.db import connection

    from integrations.woocommerce import webhooks
    # The store was saved in the test's transaction, which a real process would have committed: the
    # cache reads past what its own transaction edited (lifecycle/config_cache.py), so forget that.
    connection._aftercare_config_edited_in = None
    webhooks._stores.clear(), webhooks._read_afresh_at.clear()
    assert deliver(wc_order, topic="order.created", delivery_id="warm").status_code == 200  # the store is kept now
    reads = []
    monkeypatch.setattr(webhooks, "_load_store", lambda slug, load=webhooks._load_store: reads.append(slug) or load(slug))

    # when: a flood of deliveries to slugs nobody connected, and of forged signatures for the store
    for n in range(20):
        assert deliver(wc_order, slug=f"nobody-{n}").status_code == 404
        assert deliver(wc_order, signature="forged", delivery_id=f"forged-{n}").status_code == 401

    # then: the forged ones read the store afresh once (its secret may have been rotated), not each time,
    # and the store's next signed delivery finds its secret kept
    assert reads.count("main") == 1 and len(reads) == 21
    assert deliver(version(wc_order, "completed", "2017-03-24T09:00:00"), delivery_id="real").status_code == 200
    assert reads.count("main") == 1
