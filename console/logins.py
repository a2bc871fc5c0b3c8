"""Failed logins: each account and each network address is locked after too many (django-axes).

An account is locked after AXES_FAILURE_LIMIT failures within AXES_COOLOFF_TIME of each other,
whatever addresses they came from (someone guessing one person's password). An address is locked
after AFTERCARE_LOGIN_ADDRESS_LIMIT failures, whatever accounts they named (someone trying many
accounts), a higher limit because a whole office may share one address. A lock lifts when its
cool-off passes without another try, or when a manager unlocks it (console/admin/logins.py). A
person who then logs in starts afresh; their address's count stays, so one valid account cannot
clear an address that is guessing others' passwords.

The refusal is the login page itself, saying what is locked, for how long, and who can help.
"""

import ipaddress

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.db.models import Sum
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked account or address before its password is checked. A call without a
    request (a script, a management command) has no address to count and is left to the next
    backend: axes' own backend would fail it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LoginLimitsHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per address of its own (axes has one for all)."""

    def failures(self, request, credentials=None):
        """(the account's failures, the address's failures) within the cool-off."""
        by_account, by_address = (attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
                                  for attempts in self.get_user_attempts(request, credentials))
        return by_account, by_address

    def get_failures(self, request, credentials=None):
        # axes compares this one number with AXES_FAILURE_LIMIT: the address's failures are scaled
        # so that they reach it exactly when they reach the address's own limit.
        by_account, by_address = self.failures(request, credentials)
        return max(by_account, by_address * settings.AXES_FAILURE_LIMIT // settings.AFTERCARE_LOGIN_ADDRESS_LIMIT)

    def reset_user_attempts(self, request, credentials=None):
        """After a successful login: the account's failures only (see the module's docstring)."""
        [by_account, _by_address] = self.filter_user_attempts(request, credentials)
        count, _ = by_account.delete()
        return count


def client_address(request):
    """The address a login comes from. Behind AFTERCARE_TRUSTED_PROXIES proxies that each append
    to X-Forwarded-For, the entry the outermost of them added (what precedes it, the client may
    have written itself); directly, REMOTE_ADDR."""
    count = settings.AFTERCARE_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if count and len(forwarded) >= count:
        try:
            return str(ipaddress.ip_address(forwarded[-count]))
        except ValueError:
            pass  # a proxy that wrote no address: count the connection's
    return request.META.get("REMOTE_ADDR")


def lockout_response(request, original_response=None, credentials=None):
    """The login page again, with the refusal in place of the usual error (429)."""
    by_account, by_address = LoginLimitsHandler().failures(request, credentials)
    username = (credentials or {}).get("username") or ""
    minutes = int(get_cool_off(request).total_seconds() // 60)
    if by_account >= settings.AXES_FAILURE_LIMIT:
        what = _("Logging in as “%s” is paused after too many wrong passwords.") % username
    else:
        what = _("Logging in from your network address is paused after too many wrong passwords.")
    wait = ngettext("It opens again %d minute after the last try: each new try starts the wait again.",
                    "It opens again %d minutes after the last try: each new try starts the wait again.",
                    minutes) % minutes
    help_ = _("A manager can unlock it at once: ask your team's manager or any manager (Login lockouts, "
              "under Teams in the console's menu).")
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        "lockout": [what, wait, help_],
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, ""),
    }
    return TemplateResponse(request, "admin/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE).render()
