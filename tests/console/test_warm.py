"""Web and worker processes freeze their loaded code out of the cycle collector's walk (console/warm.py):
the URLconf is loaded first, what is alive is frozen, and garbage made afterwards is still collected."""

import gc
import importlib
import weakref

import pytest
from celery.signals import worker_process_init


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on as it was


class Node:
    pass


def test_the_loaded_code_is_frozen_and_later_garbage_still_collected(unfrozen):
    from console.warm import freeze_loaded

    frozen = freeze_loaded()
    assert frozen > 10_000 and gc.get_freeze_count() == frozen
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert gone() is None


def test_the_wsgi_application_and_each_worker_process_freeze(unfrozen):
    import console.wsgi

    importlib.reload(console.wsgi)
    assert gc.get_freeze_count() > 10_000 and callable(console.wsgi.application)
    gc.unfreeze()
    worker_process_init.send(sender=None)  # what Celery sends in each pool process it starts
    assert gc.get_freeze_count() > 10_000
