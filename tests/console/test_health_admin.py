"""Managers tune the health policy in the admin: each save publishes a new version (scores record
the version they were computed under, the history keeps every one) and queues a recompute of every
score; agents may read it; scores are read only."""

import pytest
from django.urls import reverse

from lifecycle.models import HealthPolicy, HealthScore
from lifecycle.services.health_score import COMPONENTS
from tests.lifecycle.health_support import paid_customer, recompute

pytestmark = pytest.mark.django_db


def _form(policy, **changes):
    data = {f"weight_{name}": policy.weights[name] for name in COMPONENTS}
    data |= {"intervene_below": policy.intervene_below, "expand_above": policy.expand_above,
             "churn_days": policy.churn_days, "delivery_days": policy.delivery_days, "quiet_days": policy.quiet_days}
    return data | changes


def _change_url(policy):
    return reverse("admin:lifecycle_healthpolicy_change", args=[policy.pk])


def test_a_managers_edit_publishes_a_new_version_kept_in_the_history(client_for, manager,
                                                                    django_capture_on_commit_callbacks):
    policy = HealthPolicy.objects.get()
    client = client_for(manager)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(_change_url(policy), _form(policy, weight_refunds=30, churn_days=90), follow=True)

    assert response.status_code == 200
    policy.refresh_from_db()
    assert (policy.version, policy.weights["refunds"], policy.churn_days, policy.updated_by) == (2, 30, 90, manager)
    assert "Version 2 published: every score is being recomputed under it." in response.content.decode()
    assert len(queued) == 1  # the recompute of every score, after the commit
    assert [h.version for h in policy.history.order_by("history_date")][-1] == 2
    history = client.get(reverse("admin:lifecycle_healthpolicy_history", args=[policy.pk]))
    assert history.status_code == 200

    score = recompute(paid_customer())
    assert score.policy_version == 2 and score.components["refunds"]["weight"] == 30


def test_weights_that_leave_nothing_to_count_and_crossed_bands_are_refused(client_for, manager):
    policy = HealthPolicy.objects.get()
    zeros = {f"weight_{name}": 0 for name in COMPONENTS}
    page = client_for(manager).post(_change_url(policy), _form(policy, **zeros)).content.decode()
    assert "At least one weight must be above zero." in page
    page = client_for(manager).post(_change_url(policy), _form(policy, intervene_below=80)).content.decode()
    assert "Expand starts above intervene and at most at 100." in page
    policy.refresh_from_db()
    assert policy.version == 1


def test_agents_read_the_policy_but_cannot_change_it(client_for, support_agent):
    policy = HealthPolicy.objects.get()
    client = client_for(support_agent)
    assert client.get(_change_url(policy)).status_code == 200
    client.post(_change_url(policy), _form(policy, weight_refunds=99))
    policy.refresh_from_db()
    assert policy.version == 1 and policy.weights["refunds"] == 10


def test_scores_are_read_only_and_listed_by_band(client_for, manager):
    recompute(paid_customer(name="Olga Optimize"))
    client = client_for(manager)
    listing = client.get(reverse("admin:lifecycle_healthscore_changelist") + "?band__exact=optimize")
    assert listing.status_code == 200 and "Olga Optimize" in listing.content.decode()
    score = HealthScore.objects.get()
    assert client.post(reverse("admin:lifecycle_healthscore_change", args=[score.pk]), {"score": 100}).status_code \
        == 403
    assert client.get(reverse("admin:lifecycle_healthscore_add")).status_code == 403
