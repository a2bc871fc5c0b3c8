"""CRM activities (notes, calls, emails, meetings, tasks) on the timelines of the customers they are
associated with, as the CRM's word: what the CRM's people did with a customer, beside what the
console's did. The next issue's journeys read them as completion signals (an email for the welcome
step, a call or meeting for the onboarding check).

Idempotent by activity: each (connection, activity, customer) is stored once (CrmActivity, unique),
so a page read again after a crash, or an activity edited in the CRM (it comes back with a newer
stamp), adds nothing. An activity of a contact the console has not matched to a customer is not
recorded: should the CRM associate it later, it comes back modified and lands then.
"""

import html
import re

from django.utils.html import strip_tags

from integrations.crm import inbound
from integrations.crm.models import CrmActivity, CrmOwnerLink
from lifecycle.db import rows
from lifecycle.models import TimelineEvent
from lifecycle.services import timeline

# Where a line or block ends in HTML, words are apart even when no blank is typed between them.
BREAKS = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)


def plain(text):
    """An activity's body as plain text: HubSpot keeps notes and emails as HTML."""
    return " ".join(html.unescape(strip_tags(BREAKS.sub(" ", text or ""))).split())


def activities_import(*, connection, activities, actor):
    """Put the activities (base.Activity) on their customers' timelines, in the caller's transaction:
    one read of the contacts' customers, one of what is there already, one insert of each. Returns
    how many events were added."""
    customers = inbound.customers_by_contact(connection, {c for a in activities for c in a.contact_ids})
    pairs = []
    for activity in activities:
        for customer_id in dict.fromkeys(customers[c] for c in activity.contact_ids if c in customers):
            pairs.append((activity, customer_id))
    if not pairs:
        return 0
    done = set(CrmActivity.objects.filter(connection=connection, activity__in={a.cursor for a, _ in pairs})
               .values_list("activity", "customer_id"))
    new = [(a, c) for a, c in pairs if (a.cursor, c) not in done]
    if not new:
        return 0
    owners = dict(CrmOwnerLink.objects.filter(connection=connection, owner_id__in={a.owner_id for a, _ in new})
                  .exclude(owner_id="").values_list("owner_id", "owner_name"))
    events, records = [], []
    for activity, customer_id in new:
        occurred = activity.occurred_at or activity.modified_at
        events.append(timeline.crm_activity_event(
            customer_id=customer_id, activity_type=activity.type, activity_id=activity.id, occurred_at=occurred,
            actor=actor, subject=plain(activity.subject), body=plain(activity.body),
            data={"connection_id": connection.pk, "owner_id": activity.owner_id or "",
                  "owner": owners.get(activity.owner_id or "", "")}))
        records.append(CrmActivity(connection=connection, activity=activity.cursor, customer_id=customer_id,
                                   occurred_at=occurred))
    CrmActivity.objects.bulk_create(records)
    rows.insert_many(TimelineEvent, events)
    return len(events)
