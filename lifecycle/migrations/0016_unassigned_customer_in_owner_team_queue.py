"""A customer without an agent waits in its owner team's queue, claimable by the team's agents
(DOMAIN.md), not in the managers' queue.

The shipped policy for `unassigned_customer` changes where a manager has not edited it (still the
managers' queue, not routed to the owner team), and the open ones not yet escalated move to the
queue of the team that owns their customer. Escalated ones stay with the managers.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery

KIND = "unassigned_customer"


def forwards(apps, schema_editor):
    ExceptionPolicy = apps.get_model("lifecycle", "ExceptionPolicy")
    ExceptionCase = apps.get_model("lifecycle", "ExceptionCase")
    Ownership = apps.get_model("lifecycle", "Ownership")
    ExceptionPolicy.objects.filter(kind=KIND, queue__isnull=True, route_to_owner_team=False).update(
        route_to_owner_team=True)
    owner_team = Ownership.objects.filter(customer_id=OuterRef("customer_id")).values("team_id")[:1]
    ExceptionCase.objects.filter(kind=KIND, status__in=["open", "in_progress"], queue__isnull=True,
                                 breached_at__isnull=True, customer__isnull=False).update(queue=Subquery(owner_team))


def backwards(apps, schema_editor):
    ExceptionPolicy = apps.get_model("lifecycle", "ExceptionPolicy")
    ExceptionPolicy.objects.filter(kind=KIND, queue__isnull=True, route_to_owner_team=True).update(
        route_to_owner_team=False)


class Migration(migrations.Migration):
    dependencies = [("lifecycle", "0015_timeline_same_second_and_clock_kinds")]
    operations = [migrations.RunPython(forwards, backwards)]
