import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
application = get_wsgi_application()

from console.warm import freeze_loaded  # noqa: E402 (needs the apps loaded)

freeze_loaded()  # a full collection no longer walks the loaded code during a request (console/warm.py)
