"""The journeys' beat tasks (lifecycle/tasks.py imports them, so the worker registers them)."""

import logging

from celery import shared_task

from lifecycle.actors import Actor
from lifecycle.services.journeys.follow import journeys_follow
from lifecycle.services.journeys.sweep import journeys_sweep

log = logging.getLogger(__name__)


@shared_task
def follow_journeys():
    """Complete, re-time and end journey steps by the timeline events since the watermark; returns how
    many events were read. Queued when journeys start; the beat's sweep_journeys runs it too. No
    retries: the next run is the retry, and an event read twice changes nothing."""
    return journeys_follow(actor=Actor.task("follow_journeys"))


@shared_task
def sweep_journeys():
    """Every minute: follow the timeline first (a signal that arrived completes its step instead of
    it being missed), then mark the steps past due missed and raise their missed_touchpoint. No
    retries: the next run is the retry, and a rerun marks nothing twice."""
    actor = Actor.task("sweep_journeys")
    followed = journeys_follow(actor=actor)
    missed = journeys_sweep(actor=actor)
    if missed:
        log.info("%d journey steps missed", missed)
    return {"followed": followed, "missed": missed}
