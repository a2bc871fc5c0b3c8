"""The console's own names for rows other apps keep."""

from axes.models import AccessAttempt


class LoginLockout(AccessAttempt):
    """django-axes' record of failed logins (one per account, address and browser), under the name
    managers look for: console/admin/logins.py lists it, with whether each is locked, and unlocks."""

    class Meta:
        proxy = True
        verbose_name = "login lockout"
        verbose_name_plural = "login lockouts"
