"""Login lockouts for managers: who is locked out of the console, why, and an Unlock that lifts it.

Each row is one account, address and browser with its failed logins (django-axes records them;
console/logins.py sets the limits). A row says whether its account or its address is locked now:
an account by its failures from every address, an address by its failures for every account.
Unlock forgets the row's account's failures and its address's, so the person can log in at once;
it is logged in the admin's history like any deletion.
"""

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.decorators import action, display

from console.admin.base import AftercareAdmin, when_column
from console.admin.integrations import hx_redirect
from console.models import LoginLockout

STATUS_COLORS = {"locked": "danger", "counting": "warning", "expired": "default"}


def _failures_of(since, field):
    """The failures since `since` of every row sharing the outer row's `field`."""
    total = (LoginLockout.objects.filter(attempt_time__gte=since, **{field: OuterRef(field)}).order_by()
             .values(field).annotate(n=Sum("failures_since_start")).values("n"))
    return Coalesce(Subquery(total, output_field=IntegerField()), 0)


@admin.register(LoginLockout)
class LoginLockoutAdmin(AftercareAdmin):
    list_display = ["username", "ip_address", "status", "failures_since_start",
                    when_column("attempt_time", _("last failure")), "user_agent"]
    list_display_links = None
    search_fields = ["username"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "user_agent", "path_info", "failures_since_start", "attempt_time"]
    actions = ["unlock"]
    actions_detail = ["unlock_detail"]

    def get_queryset(self, request):
        since = timezone.now() - get_cool_off(request)
        return super().get_queryset(request).annotate(
            account_failures=_failures_of(since, "username"), address_failures=_failures_of(since, "ip_address"),
            current=Q(attempt_time__gte=since))

    @display(description=_("status"), label=STATUS_COLORS)
    def status(self, obj):
        if not obj.current:
            return "expired", _("Expired: counts no more")
        if obj.account_failures >= settings.AXES_FAILURE_LIMIT:
            return "locked", _("Account locked")
        if obj.address_failures >= settings.AFTERCARE_LOGIN_ADDRESS_LIMIT:
            return "locked", _("Address locked")
        return "counting", _("%(n)d of %(limit)d failures") % {"n": obj.account_failures,
                                                               "limit": settings.AXES_FAILURE_LIMIT}

    def has_add_permission(self, request):
        return False  # only failed logins make rows

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # Unlock is the one way rows go, and it says what it lifted
        return actions

    def _unlock(self, request, attempts):
        accounts = {a.username for a in attempts if a.username is not None}
        addresses = {a.ip_address for a in attempts if a.ip_address is not None}
        lifted = LoginLockout.objects.filter(Q(username__in=accounts) | Q(ip_address__in=addresses))
        self.log_deletions(request, lifted)
        lifted.delete()
        messages.success(request, ngettext(
            "Unlocked %(accounts)s: they can log in now.", "Unlocked %(accounts)s: they can log in now.",
            len(accounts)) % {"accounts": ", ".join(sorted(accounts)) or _("the address")})

    @admin.action(description=_("Unlock (the account and its address)"), permissions=["delete"])
    def unlock(self, request, queryset):
        self._unlock(request, list(queryset))

    @action(description=_("Unlock"), url_path="unlock", icon="lock_open", permissions=["delete"],
            dialog={"title": _("Unlock this account and address?"),
                    "description": _("Their failed logins are forgotten: the person can log in at once.")})
    def unlock_detail(self, request, form, object_id):
        self._unlock(request, [get_object_or_404(LoginLockout, pk=object_id)])
        return hx_redirect(request, reverse("admin:console_loginlockout_changelist"))
