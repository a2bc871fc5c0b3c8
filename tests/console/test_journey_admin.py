"""Managers edit playbooks in the admin with their steps inline: each save publishes a version (running
journeys keep theirs), an unknown signal is refused in words, versions and journeys are read only."""

import pytest
from django import forms
from django.urls import reverse

from lifecycle.models import Playbook, PlaybookVersion
from lifecycle.services.journeys.versions import DEFAULT_NAME
from tests.lifecycle.journey_support import journey_of, paid_customer

pytestmark = pytest.mark.django_db


def _form_data(response):
    """What the rendered change form would post back unchanged: the playbook's fields and its steps'."""
    data = {}

    def add(form):
        for name, field in form.fields.items():
            value = field.prepare_value(form[name].value())
            key = form.add_prefix(name)
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            else:
                data[key] = "" if value is None else str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def _change(client, playbook):
    url = reverse("admin:lifecycle_playbook_change", args=[playbook.pk])
    return url, _form_data(client.get(url))


def test_a_managers_save_publishes_a_version_and_running_journeys_keep_theirs(client_for, manager):
    running, _, _ = paid_customer()
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    client = client_for(manager)
    url, data = _change(client, playbook)
    data["steps-1-due_days"] = "3"  # the welcome email moves to day 3

    response = client.post(url, data, follow=True)

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Published as version 2") for m in messages), messages
    version = PlaybookVersion.objects.get(playbook=playbook, number=2)
    assert next(s for s in version.steps if s["key"] == "welcome_email")["due_days"] == 3
    assert version.published_by == manager
    assert journey_of(running).version.number == 1
    assert playbook.history.count() >= 1  # the edit is in the playbook's history


def test_an_unknown_signal_is_refused_with_the_reason_and_nothing_is_published(client_for, manager):
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    client = client_for(manager)
    url, data = _change(client, playbook)
    data["steps-1-signals"] = "crm_activity:fax\ntouchpoint"

    response = client.post(url, data)

    assert response.status_code == 200  # the form again, with its error
    assert "fax is not one of crm_activity&#x27;s details" in response.content.decode()
    assert PlaybookVersion.objects.filter(playbook=playbook).count() == 1


def test_a_playbook_needs_a_step(client_for, manager):
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    client = client_for(manager)
    url, data = _change(client, playbook)
    for n in range(7):
        data[f"steps-{n}-DELETE"] = "on"
    response = client.post(url, data)
    assert "A playbook needs at least one step." in response.content.decode()


def test_agents_read_playbooks_and_nobody_edits_versions_or_journeys(client_for, manager, support_agent):
    customer, _, _ = paid_customer()
    playbook = Playbook.objects.get(name=DEFAULT_NAME)
    agent = client_for(support_agent)
    assert agent.get(reverse("admin:lifecycle_playbook_change", args=[playbook.pk])).status_code == 200
    assert agent.post(reverse("admin:lifecycle_playbook_change", args=[playbook.pk]), {}).status_code == 403
    boss = client_for(manager)
    version = playbook.versions.get(number=1)
    assert boss.post(reverse("admin:lifecycle_playbookversion_change", args=[version.pk]), {}).status_code == 403
    journey = journey_of(customer)
    page = boss.get(reverse("admin:lifecycle_journey_change", args=[journey.pk]))
    assert page.status_code == 200 and "Welcome &amp; onboarding email" in page.content.decode()
    assert boss.post(reverse("admin:lifecycle_journey_change", args=[journey.pk]), {}).status_code == 403
