"""Forms of the intermediate action pages. They only collect input: the services decide."""

from collections import defaultdict

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget

from lifecycle.models import STAGE_TRANSITIONS, Agent, Customer, Stage, Team


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


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, agent):
        teams = ", ".join(team.name for team in agent.teams.all())
        return f"{agent} ({teams})" if teams else str(agent)


class ReassignOwnerForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.all(), widget=UnfoldAdminSelectWidget)
    agent = AgentChoiceField(
        queryset=Agent.objects.filter(user__is_active=True).select_related("user").prefetch_related("teams"),
        required=False,
        widget=UnfoldAdminSelectWidget,
        help_text=_("Optional. Must be a member of the team; empty leaves the customer in the team's queue."),
    )
    reason = forms.CharField(
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("Stored on the handoff and shown on the customer's timeline."),
    )

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
