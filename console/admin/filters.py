"""Changelist filters that Django's field filters cannot express cheaply.

Django's RelatedFieldListFilter builds its choices with str(agent), which loads each agent's user
one query at a time; these filters select what their labels need in one query.
"""

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import DropdownFilter

from lifecycle.models import Agent, Team


def by_id(queryset, field_path, value):
    """The rows whose `field_path` is the id `value`; a value that is no id (typed into the address)
    is what the admin calls wacky lookup parameters: its list without filters, as Django's own do."""
    if not value:
        return queryset
    try:
        return queryset.filter(**{field_path: value})
    except (ValueError, ValidationError) as error:
        raise IncorrectLookupParameters(error) from error


class TeamFilter(DropdownFilter):
    title = _("owner team")
    parameter_name = "team"
    field_path = "ownership__team"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Team.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        return by_id(queryset, self.field_path, self.value())


class AgentFilter(DropdownFilter):
    title = _("owner agent")
    parameter_name = "agent"
    field_path = "ownership__agent"

    def lookups(self, request, model_admin):
        return [(str(agent.pk), str(agent)) for agent in Agent.objects.select_related("user")]

    def queryset(self, request, queryset):
        return by_id(queryset, self.field_path, self.value())


class AssignmentFilter(DropdownFilter):
    """The question a queue asks: who has nobody, or only a team, looking after them?"""

    title = _("assignment")
    parameter_name = "assignment"

    def lookups(self, request, model_admin):
        return [
            ("no_owner", _("No owner")),
            ("team_only", _("Team only (no agent)")),
            ("agent", _("Agent assigned")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "no_owner":
            return queryset.filter(ownership__isnull=True)
        if value == "team_only":
            return queryset.filter(ownership__isnull=False, ownership__agent__isnull=True)
        if value == "agent":
            return queryset.filter(ownership__agent__isnull=False)
        return queryset


class OwnershipTeamFilter(TeamFilter):
    title = _("team")
    field_path = "team"


class OwnershipAgentFilter(AgentFilter):
    title = _("agent")
    field_path = "agent"


class HandoffToTeamFilter(TeamFilter):
    title = _("to team")
    parameter_name = "to_team"
    field_path = "to_team"


class HandoffToAgentFilter(AgentFilter):
    title = _("to agent")
    parameter_name = "to_agent"
    field_path = "to_agent"
