"""The customer screen's journey: marking a step done (a POST from the strip, console/customer/journey.html),
through lifecycle.services.journeys.marks.step_mark_done; back to the strip with a message. A refusal
says why and whom to ask."""

from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.views import refusals
from lifecycle.actors import Actor
from lifecycle.models import JourneyStep
from lifecycle.selectors import customers as screen
from lifecycle.services.errors import PermissionDenied, ServiceError
from lifecycle.services.journeys.marks import step_mark_done


@require_POST
def mark_step_done(request, customer_id, step_id):
    customer = screen.customer_for_screen(request.user, customer_id)
    if customer is None:
        return refusals.customer_refused(request, customer_id)
    step = JourneyStep.objects.filter(pk=step_id, customer_id=customer.pk).first()
    if step is None:
        raise Http404("No such journey step.")
    try:
        done = step_mark_done(step=step, actor=Actor.for_user(request.user), comment=request.POST.get("comment", ""))
    except (ServiceError, PermissionDenied) as error:
        messages.error(request, str(error))
    else:
        how = {"late": "done late", "done": "done"}.get(done.state, done.get_state_display().lower())
        messages.success(request, f"{done.name}: marked {how}" + (" (it was already done: flagged duplicated)."
                                                                   if done.duplicated else "."))
    return redirect(reverse("console:customer", args=[customer.pk]) + f"#step-{step.pk}")


mark_step_done_view = admin.site.admin_view(mark_step_done)
