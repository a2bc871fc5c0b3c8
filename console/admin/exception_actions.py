"""Queue actions on exceptions: each calls a queue service with the user as actor."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextareaWidget

from console.admin.forms import AgentChoiceField
from lifecycle.actors import Actor
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.queues import exception_claim, exception_close, exception_release, exceptions_reassign

TEMPLATE = "admin/lifecycle/exceptioncase/exception_action.html"
MAX_BATCH = 200  # one transaction each: keep a request short


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
                             help_text=_("Kept on the exception and shown on the customer's timeline."))


class AssignForm(forms.Form):
    """The agents who can take work now, each with their teams and load (console/admin/forms.py); narrowed
    to the team whose queue holds the exceptions (`items`). The managers' queue takes any agent, so
    exceptions there, or in several teams' queues, list every assignable agent and the service refuses
    an agent outside an exception's team."""

    agent = AgentChoiceField(
        help_text=_("Agents on shift only, with their teams and open items against their capacity. Must be in the "
                    "team that owns each exception (any agent for the managers' queue)."),
    )

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        queues = {item.queue for item in items}
        field = self.fields["agent"]
        if len(queues - {None}) == 1:
            [queue] = queues - {None}
            field.for_team(queue)
            field.help_text = _("The agents of %(team)s on shift, with their teams and open items against their "
                                "capacity.") % {"team": queue}
        elif queues == {None}:
            field.help_text = _("Every agent on shift (the managers' queue takes anyone), with their teams and open "
                                "items against their capacity.")


def _page(modeladmin, request, items, form, title, submit_label, action):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title, "opts": modeladmin.model._meta, "media": modeladmin.media + form.media, "form": form,
        "items": items, "bulk_action": action, "submit_label": submit_label,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "table": {"headers": [_("Exception"), _("Queue"), _("Assignee"), _("Status")],
                  "rows": [[str(i), str(i.queue or _("Managers")), str(i.assignee or "—"), i.get_status_display()]
                           for i in items]},
    }
    return TemplateResponse(request, TEMPLATE, context)


def _each(request, items, call, done_message):
    done = 0
    for item in items:
        try:
            call(item)
        except PermissionDenied as error:
            messages.error(request, str(error))
            return
        except ServiceError as error:
            messages.error(request, f"{item}: {error}")
            continue
        done += 1
    if done:
        messages.success(request, done_message % {"n": done})


@admin.action(description=_("Claim"), permissions=["work"])
def claim(modeladmin, request, queryset):
    actor = Actor.for_user(request.user)
    _each(request, list(queryset[:MAX_BATCH]), lambda i: exception_claim(exception=i, actor=actor),
          _("Claimed %(n)d exception(s)."))


@admin.action(description=_("Release back to the queue"), permissions=["work"])
def release(modeladmin, request, queryset):
    actor = Actor.for_user(request.user)
    _each(request, list(queryset[:MAX_BATCH]), lambda i: exception_release(exception=i, actor=actor),
          _("Released %(n)d exception(s)."))


def _close(modeladmin, request, queryset, *, dismiss):
    items = list(queryset[:MAX_BATCH])
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        actor = Actor.for_user(request.user)
        _each(request, items, lambda i: exception_close(exception=i, actor=actor, reason=form.cleaned_data["reason"],
                                                        dismiss=dismiss),
              _("Dismissed %(n)d exception(s).") if dismiss else _("Resolved %(n)d exception(s)."))
        return None
    title = _("Dismiss (not a problem)") if dismiss else _("Resolve")
    return _page(modeladmin, request, items, form, title, title, "dismiss" if dismiss else "resolve")


@admin.action(description=_("Resolve…"), permissions=["work"])
def resolve(modeladmin, request, queryset):
    return _close(modeladmin, request, queryset, dismiss=False)


@admin.action(description=_("Dismiss…"), permissions=["dismiss"])
def dismiss(modeladmin, request, queryset):
    return _close(modeladmin, request, queryset, dismiss=True)


@admin.action(description=_("Assign to agent…"), permissions=["assign"])
def assign(modeladmin, request, queryset):
    items = list(queryset[:MAX_BATCH])
    form = AssignForm(request.POST if "apply" in request.POST else None, items=items)
    if form.is_bound and form.is_valid():
        assigned, refused = exceptions_reassign(exceptions=items, agent=form.cleaned_data["agent"],
                                                actor=Actor.for_user(request.user))
        for pk, why in refused.items():
            messages.error(request, f"#{pk}: {why}")
        if assigned:
            messages.success(request, _("Assigned %(n)d exception(s) to %(agent)s.")
                             % {"n": len(assigned), "agent": form.cleaned_data["agent"]})
        return None
    return _page(modeladmin, request, items, form, _("Assign to agent"), _("Assign"), "assign")
