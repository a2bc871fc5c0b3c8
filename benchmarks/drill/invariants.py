"""The promises, counted at the end of the month once the console has caught up (settle.py). Each check
returns (count of what breaks it, a few examples); the allowed count of each is 0.

Each is read from the tables with SQL of its own, not through the services that keep it, so a service
that breaks a promise cannot also hide it. What a raw status means and when two states agree are the
console's configuration and vocabulary (the status mappings, lifecycle.statuses.agrees), read as data.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone

OPEN = ("open", "in_progress")
EXAMPLES = 5


@dataclass
class Result:
    name: str
    count: int | None  # None: left out
    examples: list = field(default_factory=list)
    note: str = ""


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _t(model):
    return model._meta.db_table


def one_owner():
    """Customers with orders and no owner, and owners whose agent is not of the owning team."""
    from lifecycle.models import Agent, Customer, Order, Ownership

    teams = Agent.teams.through._meta.db_table
    unowned = _rows(f"""
        SELECT c.id FROM {_t(Customer)} c
         WHERE EXISTS (SELECT 1 FROM {_t(Order)} o WHERE o.customer_id = c.id)
           AND NOT EXISTS (SELECT 1 FROM {_t(Ownership)} w WHERE w.customer_id = c.id)""")
    outside = _rows(f"""
        SELECT w.customer_id FROM {_t(Ownership)} w
         WHERE w.agent_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM {teams} a WHERE a.agent_id = w.agent_id AND a.team_id = w.team_id)""")
    found = [f"customer {pk} has no owner" for (pk,) in unowned] + [
        f"customer {pk}'s agent is not of its team" for (pk,) in outside]
    return Result("customers with other than one owner", len(found), found[:EXAMPLES])


def waiting_with_room(grace):
    """Customers without an agent whose team has an agent on shift with room, waiting longer than the
    assignment SLA's clock or than `grace` (the routing sweep's period, twice, compressed)."""
    from lifecycle.models import ExceptionCase, Ownership
    from lifecycle.selectors.routing import agent_loads

    now = timezone.now()
    clocks = dict(ExceptionCase.objects.filter(kind="unassigned_customer", status__in=OPEN)
                  .values_list("customer_id", "due_at"))
    waiting = list(Ownership.objects.filter(agent__isnull=True).values_list("customer_id", "team_id", "since"))
    room = {}
    for team_id in {team for _, team, _ in waiting}:
        room[team_id] = sum(max(0, a.capacity - a.open_items) for a in agent_loads(team_id)
                            if a.is_available and a.is_active)
    broken = [(pk, since) for pk, team, since in waiting if room[team] and (
        since < now - grace or (clocks.get(pk) is not None and clocks[pk] < now))]
    return Result("customers without an agent past the assignment SLA while agents had room", len(broken),
                  [f"customer {pk} waiting since {since:%H:%M:%S}" for pk, since in broken[:EXAMPLES]],
                  f"{len(waiting)} wait for an agent in all; grace {grace.total_seconds():.0f} s")


def deliveries_once(store_id):
    """Accepted deliveries (stored, signature good) still waiting or failed, and any delivery whose
    order change was applied twice (two identical timeline events of one delivery)."""
    from integrations.models import InboundEvent
    from lifecycle.models import TimelineEvent

    waiting = _rows(f"SELECT id, status FROM {_t(InboundEvent)} WHERE store_id = %s AND status IN "
                    "('received', 'failed')", [store_id])
    twice = _rows(f"""
        SELECT order_id, kind, actor_ref, count(*) FROM {_t(TimelineEvent)}
         WHERE actor_kind = 'webhook' AND kind IN ('order_created', 'order_state_changed')
         GROUP BY order_id, kind, actor_ref, data::text HAVING count(*) > 1""")
    found = [f"delivery {pk} still {status}" for pk, status in waiting] + [
        f"order {order}: {kind} by {ref} applied {n} times" for order, kind, ref, n in twice]
    return Result("accepted deliveries not processed exactly once", len(found), found[:EXAMPLES])


def duplicate_orders(slug):
    """The same order twice: one (system, store, id) twice, one shop number twice in its store, or an
    order another system created for a shop order it should have attached to."""
    from lifecycle.models import Order

    same_id = _rows(f"SELECT system, namespace, external_id FROM {_t(Order)} GROUP BY 1, 2, 3 HAVING count(*) > 1")
    same_number = _rows(f"SELECT number FROM {_t(Order)} WHERE system = 'woocommerce' AND namespace = %s "
                        "GROUP BY number HAVING count(*) > 1", [slug])
    shadows = _rows(f"""
        SELECT x.system, x.number FROM {_t(Order)} x
         WHERE x.system <> 'woocommerce' AND EXISTS (
               SELECT 1 FROM {_t(Order)} o WHERE o.system = 'woocommerce' AND o.namespace = %s AND o.number = x.number)""",
                    [slug])
    found = ([f"{s}:{n}:{e} twice" for s, n, e in same_id] + [f"shop number {n} twice" for (n,) in same_number]
             + [f"{s} order {n} beside the shop's" for s, n in shadows])
    return Result("duplicate orders", len(found), found[:EXAMPLES])


def handoffs_complete():
    """Owners not written by their last handoff, and handoffs that do not start where the one before
    ended (an ownership change in between left no row)."""
    from lifecycle.models import Handoff, Ownership

    unwritten = _rows(f"""
        SELECT w.customer_id FROM {_t(Ownership)} w LEFT JOIN {_t(Handoff)} h ON h.id = w.last_handoff_id
         WHERE h.id IS NULL OR h.customer_id <> w.customer_id OR h.to_team_id <> w.team_id
            OR h.to_agent_id IS DISTINCT FROM w.agent_id""")
    gaps = _rows(f"""
        SELECT customer_id, id FROM (
               SELECT customer_id, id, from_team_id, from_agent_id,
                      lag(to_team_id) OVER w AS prev_team, lag(to_agent_id) OVER w AS prev_agent,
                      row_number() OVER w AS n
                 FROM {_t(Handoff)} WINDOW w AS (PARTITION BY customer_id ORDER BY id)) chain
         WHERE (n = 1 AND from_team_id IS NOT NULL)
            OR (n > 1 AND (from_team_id IS DISTINCT FROM prev_team OR from_agent_id IS DISTINCT FROM prev_agent))""")
    found = [f"customer {pk}'s owner is not its last handoff's" for (pk,) in unwritten] + [
        f"customer {pk}: handoff {h} does not start where the one before ended" for pk, h in gaps]
    return Result("ownership changes without a handoff row", len(found), found[:EXAMPLES])


def exceptions_owned():
    """Exceptions without a due time, and exceptions in the managers' queue (queue empty) that belong in a
    team's: their kind's policy names a team, or sends them to the owner team of a customer that had an
    owner when it opened; escalations to the managers (escalated_from set) are where they belong."""
    from lifecycle.models import ExceptionCase, ExceptionPolicy, Handoff

    no_due = _rows(f"SELECT id, kind FROM {_t(ExceptionCase)} WHERE due_at IS NULL")
    astray = _rows(f"""
        SELECT e.id, e.kind FROM {_t(ExceptionCase)} e JOIN {_t(ExceptionPolicy)} p ON p.kind = e.kind
         WHERE e.queue_id IS NULL AND e.escalated_from_id IS NULL
           AND (e.kind = 'missed_touchpoint' OR p.queue_id IS NOT NULL
                OR (p.route_to_owner_team AND e.customer_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM {_t(Handoff)} h WHERE h.customer_id = e.customer_id AND h.created_at <= e.opened_at)))""")
    found = [f"{kind} {pk} has no due time" for pk, kind in no_due] + [
        f"{kind} {pk} is in no team's queue" for pk, kind in astray]
    return Result("exceptions without queue or due time", len(found), found[:EXAMPLES],
                  "the managers' queue is an empty queue by design: counted only where a team's queue was due")


def journeys_swept(grace):
    """Pending journey steps overdue by more than the sweep's grace, and missed steps without their
    missed_touchpoint. Left out while the services write no journey steps."""
    from lifecycle.models import ExceptionCase, JourneyStep
    from lifecycle.services.journeys.timing import missed_if_due_before

    if not JourneyStep.objects.exists():
        return Result("journey steps overdue without missed_touchpoint", None,
                      note="left out: no journey step was written by the services during the month")
    overdue = JourneyStep.objects.filter(state="pending", due_at__lt=missed_if_due_before(timezone.now() - grace))
    missed = set(JourneyStep.objects.filter(state="missed").values_list("pk", flat=True))
    raised = {int(key.split(":", 1)[1]) for key in ExceptionCase.objects.filter(
        kind="missed_touchpoint").values_list("subject_key", flat=True)}
    unraised = sorted(missed - raised)
    found = [f"step {pk} overdue, still pending" for pk in overdue.values_list("pk", flat=True)[:EXAMPLES]] + [
        f"step {pk} missed without missed_touchpoint" for pk in unraised[:EXAMPLES]]
    return Result("journey steps overdue without missed_touchpoint", overdue.count() + len(unraised),
                  found[:EXAMPLES], f"{JourneyStep.objects.count()} steps, {len(missed)} missed")
