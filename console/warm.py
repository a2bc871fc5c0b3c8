"""A long-running process's loaded code, kept out of the cycle collector's way.

Once Django, the admin, the API and their modules are loaded, a web process holds some 170,000
objects, and Python's cycle collector walks every one of them in each full collection: 35–80 ms on
a warm web process here (four in 600 requests), a pause that lands on whichever request or task runs
at that moment. The drill's slowest API answers were such requests. freeze_loaded() loads what a
first request would (the URLconf, and so every view, admin and serializer it imports), collects once,
then moves every object alive to the collector's permanent generation (gc.freeze): they are never
walked again, and what later requests allocate is collected as before (full collections measured
14 ms at most). Called by console/wsgi.py in each web process and by console/celery.py in each
worker process.
"""

import gc

from django.urls import get_resolver


def freeze_loaded():
    """Load the URLconf, collect, and freeze what is alive; returns how many objects were frozen."""
    get_resolver().url_patterns  # noqa: B018 (imports the URLconf and everything it imports)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
