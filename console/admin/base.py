"""Pieces every Aftercare ModelAdmin shares."""

from django.core.exceptions import ObjectDoesNotExist
from unfold.admin import ModelAdmin

OWNERSHIP_VIEW = "lifecycle.view_ownership"


class AftercareAdmin(ModelAdmin):
    # The dropdown filters of unfold only apply with a submit button.
    list_filter_submit = True
    list_per_page = 50


class ViewOnlyMixin:
    """For rows only services write (history, shop data, current owner): the admin shows them.

    Returning False here also hides the add button, the save buttons and "delete selected", and
    makes a forced POST to the add/change/delete URLs answer 403, whatever the user's groups say.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def owner_of(customer):
    """The customer's Ownership or None; no query when the queryset selected `ownership`."""
    try:
        return customer.ownership
    except ObjectDoesNotExist:
        return None


def can_see_owners(request):
    # Operations read customers and orders but not who owns them: owner columns stay hidden.
    return request.user.has_perm(OWNERSHIP_VIEW)
