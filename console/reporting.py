"""What error pages and error reports may show.

Django's SafeExceptionReporterFilter applies `sensitive_variables` and `sensitive_post_parameters`
only with DEBUG off, yet DEBUG is on wherever `make run` serves the console, and its technical 500
page lists every frame's local variables (the webhook receiver's held the store's secret). This
filter applies them always. It also hides the settings and environment values whose URLs carry a
password (DATABASE_URL, CELERY_BROKER_URL; runserver passes the environment in request.META).
"""

import re

from django.views.debug import SafeExceptionReporterFilter


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER_URL|_DSN", flags=re.I
    )

    def is_active(self, request):
        return True
