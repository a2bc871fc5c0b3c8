"""What managers may do with failed logins: see the lockouts and unlock them (django-axes' rows,
console/admin/logins.py). Run by console's migration 0001 and by tests that flush the database."""

from lifecycle.defaults import grant

GROUPS = {"Manager": ["console.view_loginlockout", "console.delete_loginlockout"]}


def install_defaults(apps):
    grant(apps, GROUPS)
