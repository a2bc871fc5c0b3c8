"""Forms of the intermediate action pages. They only collect input: the services decide."""

from collections import defaultdict

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from console.admin.base import owner_of
from lifecycle.db import routing as routing_rows
from lifecycle.models import STAGE_TRANSITIONS, Agent, Customer, Stage, Team
from lifecycle.selectors.customers import agent_choice_label


def _stage_label(value):
    return Stage(value).label


def stage_moves():
    """(name, label, sources, target, backward) of every stage transition, forward ones first.

    STAGE_TRANSITIONS keeps one Transition per name (the last source seen), so the sources are
    gathered from the field itself.
    """
    sources = defaultdict(list)
    for t in Customer._meta.get_field("stage").get_all_transitions(Customer):
        sources[t.name].append(t.source)
    moves = [
        (name, t.custom["label"], sources[name], t.target, t.custom.get("backward", False))
        for name, t in STAGE_TRANSITIONS.items()
    ]
    return sorted(moves, key=lambda move: move[4])


def _move_label(label, sources, target, backward):
    path = f"{', '.join(_stage_label(s) for s in sources)} → {_stage_label(target)}"
    return f"↩ {label} ({path}) — backward: managers only" if backward else f"{label} ({path})"


# --- choosing an agent -------------------------------------------------------------------------
def assignable_agents(team=None):
    """The agents who can be given work now: on shift (Agent.is_available) with an active login, in
    `team` (a Team or its id) or in any team when None; by name.

    Each carries `open_items` (what the agent holds, customers owned + open exceptions assigned, as
    routing counts it; counted up to the largest capacity + 1: lifecycle/db/routing.py held) and its
    `teams` prefetched, so labelling a long list costs no query per agent."""
    agents = Agent.objects.filter(is_available=True, user__is_active=True)
    if team is not None:
        agents = agents.filter(teams=team)
    return (
        agents.select_related("user").prefetch_related("teams").annotate(open_items=routing_rows.held())
        .order_by("user__first_name", "user__last_name", "user__username")
    )


def agent_label(agent):
    """ "Amira Haddad (Success, Support): 12 of 40 open items", ", at capacity" when full. The load
    needs an agent from assignable_agents(); any other agent reads as its name and teams."""
    teams = [team.name for team in agent.teams.all()]
    held = getattr(agent, "open_items", None)
    if held is None:
        return f"{agent} ({', '.join(teams)})" if teams else str(agent)
    # the customer screen's assign select labels its agents with the same function
    return agent_choice_label(str(agent), teams, held, agent.capacity)


class AgentChoiceField(forms.ModelChoiceField):
    """A select of the agents who can take work now, each labelled with their teams and load
    (agent_label). `team` narrows it to one team's members; `queryset` replaces the list (it should
    come from assignable_agents to carry the load). An agent who went off shift or was deactivated
    since the page was drawn is refused with a sentence saying so."""

    default_error_messages = {
        "invalid_choice": _("That agent cannot take work now: off shift, deactivated, or not in this list."),
    }

    def __init__(self, *, team=None, queryset=None, **kwargs):
        kwargs.setdefault("widget", UnfoldAdminSelectWidget)
        kwargs.setdefault("help_text", _("Agents on shift only. Load: customers owned and open exceptions held, "
                                         "against the agent's capacity."))
        super().__init__(queryset=assignable_agents(team) if queryset is None else queryset, **kwargs)

    def for_team(self, team):
        """Narrow the list to one team's members (a form's __init__ calls it on its own copy)."""
        self.queryset = assignable_agents(team)

    def label_from_instance(self, agent):
        return agent_label(agent)


def shared_team(customers):
    """The team owning every one of `customers`, or None when they have different owners or one has none."""
    teams = {getattr(owner_of(customer), "team_id", None) for customer in customers}
    return teams.pop() if len(teams) == 1 else None


# --- the forms ----------------------------------------------------------------------------------
class ReassignOwnerForm(forms.Form):
    """Prefilled with the customers' current team when they share one (`customers`)."""

    team = forms.ModelChoiceField(queryset=Team.objects.all(), widget=UnfoldAdminSelectWidget)
    agent = AgentChoiceField(
        required=False,
        help_text=_("Optional. Must be a member of the team; empty leaves the customer in the team's queue. "
                    "Only agents on shift are listed, with their teams and open items against their capacity."),
    )
    reason = forms.CharField(
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("Stored on the handoff and shown on the customer's timeline."),
    )

    def __init__(self, *args, customers=(), **kwargs):
        super().__init__(*args, **kwargs)
        team = shared_team(customers) if customers else None
        if team is not None and "team" not in self.initial:
            self.initial["team"] = team

    def clean(self):
        data = super().clean()
        team, agent = data.get("team"), data.get("agent")
        # The service refuses this too; checking here keeps the error next to the field.
        if team and agent and not agent.teams.filter(pk=team.pk).exists():
            self.add_error("agent", _("%(agent)s is not a member of %(team)s.") % {"agent": agent, "team": team})
        return data


class MoveStageForm(forms.Form):
    transition = forms.ChoiceField(widget=UnfoldAdminSelectWidget, label=_("Move"))
    reason = forms.CharField(
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("Required for backward moves; stored on the timeline."),
    )

    def __init__(self, *args, stages=None, **kwargs):
        """`stages`: the selected customers' stages; only moves possible from one of them are offered."""
        super().__init__(*args, **kwargs)
        moves = stage_moves()
        if stages is not None:
            moves = [move for move in moves if set(move[2]) & set(stages)]
        self.backward = {name for name, *_rest, backward in moves if backward}
        self.fields["transition"].choices = [("", "---------")] + [
            (name, _move_label(label, sources, target, backward))
            for name, label, sources, target, backward in moves
        ]

    def clean(self):
        data = super().clean()
        if data.get("transition") in self.backward and not data.get("reason", "").strip():
            self.add_error("reason", _("A backward stage move needs a reason."))
        return data
