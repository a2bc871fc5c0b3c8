"""The dashboard's health: customers per band (each band linking to its scores) and, per team, its
expansion candidates and customers at risk, named and linked to their screens."""

import re

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from lifecycle.models import Customer, Stage
from tests.lifecycle.health_support import journey_steps, paid_customer, recompute

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_dashboard")]
DASHBOARD = reverse("console:dashboard")


def _page(client):
    return client.get(DASHBOARD).content.decode()


def test_customers_per_band_with_links_to_their_scores(client_for, manager):
    recompute(*[paid_customer() for _ in range(3)])  # optimize, 58 each
    expanding = paid_customer(2)
    journey_steps(expanding, "done", "done")
    recompute(expanding, automate=False)

    page = _page(client_for(manager))

    figures = re.search(r'data-figures="health-bands".*?</table>', page, re.S).group(0)
    rows = {label: [strip_tags(cell).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]
            for label, row in re.findall(r'data-figure="([^"]+)">(.*?)</tr>', figures, re.S)}
    assert rows["Optimize"] == ["Optimize", "3", "75.0 %"]
    assert rows["Expand"] == ["Expand", "1", "25.0 %"]
    assert rows["Intervene"] == ["Intervene", "0", "0.0 %"]
    assert "?band__exact=optimize" in figures


def test_each_team_lists_its_expansion_candidates_and_customers_at_risk(client_for, manager):
    candidate = paid_customer(2, name="Erin Expand")
    journey_steps(candidate, "done", "done")
    recompute(candidate, automate=False)  # active (its second order) and expanding: marketing's once loyal
    risky = paid_customer(name="Rita Risk")
    Customer.objects.filter(pk=risky.pk).update(stage=Stage.AT_RISK)  # arrange: a refund moved her

    page = _page(client_for(manager))

    teams = re.search(r'id="health-teams".*?</section>|id="health-teams".*', page, re.S).group(0)
    success = re.search(r'data-health-team="Success">(.*?)</div>\s*</div>', teams, re.S).group(1)
    text = " ".join(strip_tags(success).split())
    assert "1 expansion candidate Erin Expand health" in text
    assert "1 customer at risk Rita Risk not scored yet" in text
    assert reverse("console:customer", args=[candidate.pk]) in success
