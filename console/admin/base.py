"""Pieces every Aftercare ModelAdmin shares."""

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display

from console.templatetags.when import when
from lifecycle.actors import Actor
from lifecycle.selectors.visibility import customers_visible_to, sees_everything

OWNERSHIP_VIEW = "lifecycle.view_ownership"


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows: a worklist of 300,000 open items needs its first pages and
    "1,000 or more", not a full count on every page view (it cost seconds at that size)."""

    COUNT_CAP = 1_000

    @cached_property
    def count(self):
        return self.object_list[: self.COUNT_CAP].count()


def _is_row_id(value):
    # Every Aftercare row has an integer id; a value past a 64-bit integer is no id either (SQLite
    # overflows on it, PostgreSQL refuses it).
    return value.isascii() and value.isdigit() and len(value) <= 18


class AftercareAdmin(ModelAdmin):
    # The dropdown filters of unfold only apply with a submit button.
    list_filter_submit = True
    list_per_page = 50
    paginator = CappedPaginator
    # "N of M" needs a second count over the unfiltered table: not worth it at production sizes.
    show_full_result_count = False

    def response_action(self, request, queryset):
        """A bulk action whose selected rows are no ids (a forged or mangled form: "abc", a NUL, a
        30-digit number) says so and changes nothing, instead of Django's admin failing with a 500."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not request.POST.get("select_across") and not all(_is_row_id(value) for value in selected):
            self.message_user(request, _("The selected rows could not be read: nothing was changed. Select them "
                                         "again and retry."), messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class MappingThroughServiceMixin:
    """A status mapping (the shop's, the ERP's) is saved through its service, never deleted: the
    service keeps its history and caches and moves the orders waiting on that status. A subclass
    names the change permission the service asks for and says how to save and find the row."""

    change_permission = ""  # "app.change_model": the service asks for it, whether the row exists or not

    def map_status(self, obj, actor):
        """Save `obj` through the service; how many waiting orders followed."""
        raise NotImplementedError

    def saved_mapping(self, obj):
        raise NotImplementedError

    def has_add_permission(self, request):
        return super().has_add_permission(request) and request.user.has_perm(self.change_permission)

    def has_delete_permission(self, request, obj=None):
        return False  # map it to something else instead: deleting would bypass the service

    def save_model(self, request, obj, form, change):
        moved = self.map_status(obj, Actor.for_user(request.user))
        obj.pk, obj._state.adding = self.saved_mapping(obj).pk, False  # the admin redirects and logs with it
        if moved:
            messages.info(request, ngettext("%(n)d waiting order follows the new mapping.",
                                            "%(n)d waiting orders follow the new mapping.", moved) % {"n": moved})


class VisibleToUserMixin:
    """Lists and change pages show only what the user may see (lifecycle/selectors/visibility.py):
    a support agent, their teams' customers and what hangs off them; managers and operations, all.

    `customer_path` leads from the row to its customer ("" for Customer itself).
    """

    customer_path = "customer"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if sees_everything(request.user) else self.visible_to(request.user, queryset)

    def visible_to(self, user, queryset):
        if not self.customer_path:
            return customers_visible_to(user, queryset)
        return queryset.filter(**{f"{self.customer_path}__in": customers_visible_to(user).values("pk")})


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


def when_column(field, description=None, *, style="relative"):
    """A list column (or inline/read-only field) showing the moment `field` the way every console page
    does ({{ value|when }}: relative when recent, the full date on hover), sortable by the field.

    `field` may follow relations ("ownership__since"); `description` defaults to the field's name in
    words, as Django heads a plain field column. Put the returned function in list_display, or in an
    inline's fields and readonly_fields, where the field's name was. It keeps the field's name, so the
    cell keeps its CSS class (field-created_at)."""
    path = field.split("__")

    @display(description=description or field.replace("__", " ").replace("_", " "), ordering=field)
    def column(*args):
        # Called as column(obj) from list_display, and as a bound method column(admin, obj) when
        # someone sets it as a ModelAdmin attribute: the row is always the last argument.
        value = args[-1]
        for name in path:
            value = getattr(value, name, None)
            if value is None:
                return None  # the admin's empty-value dash
        return when(value, style)

    column.__name__ = field
    column.do_not_call_in_templates = True  # admin templates hold inline fields as values: not to be called
    return column
