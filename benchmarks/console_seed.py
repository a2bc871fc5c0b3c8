"""Bulk seed for the support console benchmark (bench_console.py): set-based SQL only, on PostgreSQL.

Every row is made by INSERT … SELECT over generate_series (or over rows just inserted), with explicit
ids so that related rows line up without joins (order g belongs to customer (g - 1) % customers + 1,
exception g to the same customer and, when it is about an order, to order g); the identity
sequences are moved past them at the end. Hashes of the row number (hashtext) spread dates, states,
kinds and assignees deterministically: two runs seed the same data.

What it makes (sizes from `Sizes`):
- agents in the five default teams, weighted like a shop's staff (success the largest), all in the
  "Support agent" group; one manager in "Manager";
- customers with a stage mix (onboarding, active, at risk, loyal, churned…), first orders over the last
  year, an email and a WooCommerce identity each, one owner each (the stage's team, vip customers to
  sales; 10% without an agent) with the handoff that made it;
- orders: the first one of each customer at its first_order_at, later ones between then and now; a
  canonical state mix (mostly completed) and one WooCommerce source state each (~1% disagreeing);
- exceptions: `open_percent` open (half in progress), the rest resolved or dismissed; kinds spread
  evenly, queues as the default policies route them (the owner's team, support, commerce, managers),
  open ones opened over the last 30 days, closed ones over the year, SLA due times and breaches;
- timeline: per customer "customer_created" and "handoff", per order "order_created";
- one big customer: `big_orders` orders with source states, `big_events` timeline events from every
  source, 20 handoffs, 40 exceptions (12 open), owned by the success team.
"""

import time
from dataclasses import dataclass

KINDS = ["unowned_customer", "unassigned_customer", "ownership_conflict", "state_mismatch", "unmapped_status",
         "missed_touchpoint", "duplicate_customer", "sync_failure", "at_risk", "payment_problem"]
# Indexes into KINDS: kinds routed to the customer's owning team, about an order, and their SLA (minutes).
OWNER_TEAM_KINDS = (2, 3, 5, 8)
ORDER_KINDS = (3, 4, 9)
SLA_MINUTES = [60, 240, 480, 480, 480, 480, 960, 240, 480, 480]
# Agents per 20, by team: success carries onboarding and active customers, the bulk of them.
TEAM_WEIGHTS = {"commerce": 3, "support": 4, "success": 8, "marketing": 3, "sales": 2}
BIG_NAME = "Big Wholesale Buyer"
BIG_EMAIL = "big.buyer@example.com"


@dataclass
class Sizes:
    customers: int = 200_000
    orders: int = 1_000_000
    exceptions: int = 1_000_000
    agents: int = 100
    open_percent: int = 30
    big_orders: int = 500
    big_events: int = 5_000


def _agent_teams(n, teams):
    """Team id of agents 1..n, following TEAM_WEIGHTS slot by slot."""
    slots = [slug for slug, weight in TEAM_WEIGHTS.items() for _ in range(weight)]
    return [teams[slots[(k - 1) % len(slots)]] for k in range(1, n + 1)]


def seed(connection, sizes, now, log=print):
    """Seed everything; returns {"big": big customer id, "manager": manager user id, "teams": {slug: id}}."""
    if sizes.orders < sizes.customers:
        raise SystemExit("--orders must be at least --customers: every customer has a first order")
    started = time.perf_counter()
    nc, no, ne = sizes.customers, sizes.orders, sizes.exceptions
    big = nc + 1

    def step(label, sql, params=None):
        t = time.perf_counter()
        with connection.cursor() as c:
            c.execute(sql, params or {})
            rows = c.rowcount
        log(f"  {label}: {rows:,} rows, {time.perf_counter() - t:.1f} s")

    with connection.cursor() as c:
        c.execute("SELECT slug, id FROM lifecycle_team")
        teams = dict(c.fetchall())
        c.execute("SELECT name, id FROM auth_group")
        groups = dict(c.fetchall())
    missing = set(TEAM_WEIGHTS) - set(teams)
    if missing:
        raise SystemExit(f"the default teams are missing: {sorted(missing)}")
    p = {"now": now, "nc": nc, "no": no, "ne": ne, "big": big, "na": sizes.agents, "kinds": KINDS,
         "open": sizes.open_percent * 10, "sla": SLA_MINUTES, **{f"t_{slug}": pk for slug, pk in teams.items()}}

    # --- people: agents (users 'agent1'…), their teams, one manager ---------------------------------
    agent_teams = _agent_teams(sizes.agents, teams)
    with connection.cursor() as c:
        c.execute("""INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                     is_active, date_joined)
                     SELECT '!', false, 'agent' || k, 'Agent', k::text, 'agent' || k || '@example.com', true, true, %(now)s
                     FROM generate_series(1, %(na)s) k""", p)
        c.execute("""INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                     is_active, date_joined)
                     VALUES ('!', false, 'bench-manager', 'Bench', 'Manager', 'manager@example.com', true, true, %(now)s)
                     RETURNING id""", p)
        manager = c.fetchone()[0]
        c.execute("""INSERT INTO auth_user_groups (user_id, group_id)
                     SELECT id, %s FROM auth_user WHERE username ~ '^agent[0-9]+$'""", [groups["Support agent"]])
        c.execute("INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)", [manager, groups["Manager"]])
        c.execute("""INSERT INTO lifecycle_agent (id, user_id, capacity, is_available, created_at)
                     SELECT substr(username, 6)::bigint, id, 40, true, %(now)s FROM auth_user
                     WHERE username ~ '^agent[0-9]+$'""", p)
        c.execute("""INSERT INTO lifecycle_agent_teams (agent_id, team_id)
                     SELECT k, t FROM unnest(%s::bigint[]) WITH ORDINALITY AS x(t, k)""", [agent_teams])
        # Team members numbered 0..size-1, to pick "member number hash % size" in set-based inserts.
        c.execute("""CREATE TEMP TABLE seed_members AS
                     SELECT team_id, (row_number() OVER (PARTITION BY team_id ORDER BY agent_id) - 1)::int AS n, agent_id
                     FROM lifecycle_agent_teams""")
        c.execute("""CREATE TEMP TABLE seed_team_size AS
                     SELECT team_id, count(*)::int AS size FROM seed_members GROUP BY team_id""")
    log(f"  {sizes.agents} agents in {len(TEAM_WEIGHTS)} teams, one manager")

    # --- customers ---------------------------------------------------------------------------------
    step("customers", """
        INSERT INTO lifecycle_customer (id, display_name, email, phone, country, tags, stage, stage_changed_at,
                                        first_order_at, created_at, updated_at)
        SELECT g, 'Customer ' || g, 'c' || g || '@example.com', '+4930' || lpad(g::text, 8, '0'),
               (ARRAY['DE', 'FR', 'NL', 'AT', 'GB', 'US'])[g %% 6 + 1],
               (CASE WHEN g %% 50 = 0 THEN '["vip"]' ELSE '[]' END)::jsonb,
               CASE WHEN g %% 20 = 0 THEN 'purchased' WHEN g %% 20 <= 3 THEN 'onboarding'
                    WHEN g %% 20 <= 11 THEN 'active' WHEN g %% 20 <= 13 THEN 'at_risk'
                    WHEN g %% 20 <= 16 THEN 'loyal' ELSE 'churned' END,
               LEAST(%(now)s, f + (g %% 40) * interval '1 day'), f, f - (g %% 30) * interval '1 day', %(now)s
        FROM (SELECT g, %(now)s - (abs(hashtext('f' || g)) %% 525600) * interval '1 minute' AS f
              FROM generate_series(1, %(nc)s) g) s""", p)

    # --- orders and what WooCommerce says about them -------------------------------------------------
    step("orders", """
        INSERT INTO lifecycle_order (id, system, namespace, external_id, number, currency, total, refunded_total,
                                     product_categories, placed_at, paid_at, state, state_changed_at, created_at,
                                     updated_at, customer_id)
        SELECT g, 'woocommerce', 'main', g::text, (100000 + g)::text, 'EUR', total,
               CASE st WHEN 'refunded' THEN total WHEN 'partially_refunded' THEN round(total / 3, 2) ELSE 0 END,
               '["coffee"]'::jsonb, placed,
               CASE WHEN st IN ('paid', 'completed', 'partially_refunded', 'refunded') THEN placed + interval '3 minutes' END,
               st, LEAST(%(now)s, placed + interval '2 days'), placed, %(now)s, c
        FROM (
            SELECT g, c, h, round((9.9 + h %% 300)::numeric, 2) AS total,
                   CASE WHEN r = 0 THEN f ELSE f + (%(now)s - f) * ((h %% 997) / 997.0) END AS placed,
                   CASE WHEN s < 72 THEN 'completed' WHEN s < 82 THEN 'paid' WHEN s < 87 THEN 'cancelled'
                        WHEN s < 91 THEN 'refunded' WHEN s < 93 THEN 'partially_refunded'
                        WHEN s < 96 THEN 'pending_payment' WHEN s < 98 THEN 'on_hold' WHEN s < 99 THEN 'failed'
                        ELSE 'completed' END AS st
            FROM (
                SELECT g, c, r, h, (h / 997) %% 100 AS s,
                       %(now)s - (abs(hashtext('f' || c)) %% 525600) * interval '1 minute' AS f
                FROM (SELECT g, (g - 1) %% %(nc)s + 1 AS c, (g - 1) / %(nc)s AS r, abs(hashtext('o' || g)) AS h
                      FROM generate_series(1, %(no)s) g) a
            ) b
        ) o""", p)
    # The last percent of the state roll is a completed order WooCommerce still calls "processing".
    step("order source states", """
        INSERT INTO lifecycle_ordersourcestate (id, order_id, system, raw_status, observed_at, event_ref, received_at)
        SELECT id, id, 'woocommerce',
               CASE state WHEN 'completed' THEN (CASE WHEN (abs(hashtext('o' || id)) / 997) %% 100 = 99
                                                      THEN 'processing' ELSE 'completed' END)
                          WHEN 'paid' THEN 'processing' WHEN 'partially_refunded' THEN 'completed'
                          WHEN 'pending_payment' THEN 'pending' WHEN 'on_hold' THEN 'on-hold' ELSE state END,
               state_changed_at, 'seed', state_changed_at
        FROM lifecycle_order""", p)

    # --- owners: the handoff that made each, then the owner row ---------------------------------------
    step("handoffs", """
        INSERT INTO lifecycle_handoff (id, actor_kind, actor_ref, customer_id, to_team_id, to_agent_id, reason, rule,
                                       detail, created_at)
        SELECT x.id, 'system', 'routing', x.id, x.team_id, CASE WHEN x.id %% 10 = 0 THEN NULL ELSE m.agent_id END,
               'First order: the stage''s team', 'stage_default', '{}'::jsonb,
               x.first_order_at + (x.id %% 600) * interval '1 minute'
        FROM (SELECT id, first_order_at,
                     CASE WHEN id %% 50 = 0 THEN %(t_sales)s WHEN stage = 'purchased' THEN %(t_commerce)s
                          WHEN stage IN ('loyal', 'churned') THEN %(t_marketing)s ELSE %(t_success)s END AS team_id
              FROM lifecycle_customer) x
        JOIN seed_team_size s ON s.team_id = x.team_id
        JOIN seed_members m ON m.team_id = x.team_id AND m.n = abs(hashtext('a' || x.id)) %% s.size""", p)
    step("ownerships", """
        INSERT INTO lifecycle_ownership (id, customer_id, team_id, agent_id, since, last_handoff_id)
        SELECT id, customer_id, to_team_id, to_agent_id, created_at, id FROM lifecycle_handoff""", p)
    step("identities (email, WooCommerce id)", """
        INSERT INTO lifecycle_customeridentity (id, customer_id, kind, namespace, value, created_at)
        SELECT id, id, 'email', '', email, created_at FROM lifecycle_customer
        UNION ALL
        SELECT %(nc)s + id, id, 'woocommerce', 'main', id::text, created_at FROM lifecycle_customer""", p)

    # --- exceptions ----------------------------------------------------------------------------------
    step("exceptions", """
        INSERT INTO lifecycle_exceptioncase (id, kind, subject_key, customer_id, order_id, queue_id, assignee_id,
                                             severity, status, summary, evidence, occurrences, due_at, opened_at,
                                             updated_at, claimed_at, breached_at, reopened_count, closed_at,
                                             resolution_reason)
        SELECT g, kind, 'seed:' || g, c, CASE WHEN k IN (3, 4, 9) AND g <= %(no)s THEN g END, queue_id, assignee,
               CASE WHEN k IN (7, 9) THEN 3 ELSE 2 END, status, initcap(replace(kind, '_', ' ')) || ' #' || g,
               '{"seed": true}'::jsonb, 1 + h %% 3, due, opened, %(now)s,
               CASE WHEN assignee IS NOT NULL THEN opened + interval '20 minutes' END,
               CASE WHEN closed IS NULL AND due + interval '5 minutes' < %(now)s THEN due + interval '5 minutes'
                    WHEN closed > due + interval '5 minutes' THEN due + interval '5 minutes' END,
               0, closed,
               CASE status WHEN 'resolved' THEN 'Fixed' WHEN 'dismissed' THEN 'Not a problem' ELSE '' END
        FROM (
            SELECT q.*, (%(kinds)s::text[])[k + 1] AS kind,
                   opened + (%(sla)s::int[])[k + 1] * interval '1 minute' AS due,
                   CASE WHEN status IN ('resolved', 'dismissed')
                        THEN LEAST(%(now)s, opened + (h %% 48) * interval '1 hour' + interval '30 minutes') END AS closed,
                   CASE WHEN status = 'open' AND s %% 4 <> 1 THEN NULL
                        WHEN queue_id IS NULL THEN h %% %(na)s + 1
                        ELSE m.agent_id END AS assignee
            FROM (
                SELECT b.*,
                       CASE WHEN k IN (2, 3, 5, 8) THEN o.team_id WHEN k = 6 THEN %(t_support)s
                            WHEN k = 9 THEN %(t_commerce)s END AS queue_id,
                       CASE WHEN s < %(open)s THEN (CASE WHEN s %% 2 = 0 THEN 'in_progress' ELSE 'open' END)
                            WHEN s %% 7 = 0 THEN 'dismissed' ELSE 'resolved' END AS status,
                       %(now)s - (CASE WHEN s < %(open)s THEN h %% 43200 ELSE h %% 525600 END) * interval '1 minute'
                           AS opened
                FROM (SELECT g, (g - 1) %% %(nc)s + 1 AS c, abs(hashtext('k' || g)) %% 10 AS k,
                             abs(hashtext('s' || g)) %% 1000 AS s, abs(hashtext('t' || g)) AS h
                      FROM generate_series(1, %(ne)s) g) b
                JOIN lifecycle_ownership o ON o.customer_id = b.c
            ) q
            LEFT JOIN seed_team_size ts ON ts.team_id = q.queue_id
            LEFT JOIN seed_members m ON m.team_id = q.queue_id AND m.n = (q.h / 7) %% ts.size
        ) e""", p)

    # --- timeline ------------------------------------------------------------------------------------
    step("timeline events", """
        INSERT INTO lifecycle_timelineevent (id, actor_kind, actor_ref, customer_id, order_id, kind, source, summary,
                                             data, occurred_at)
        SELECT id, 'webhook', 'woocommerce', id, NULL::bigint, 'customer_created', 'shop', 'Customer created from the shop',
               '{}'::jsonb, created_at FROM lifecycle_customer
        UNION ALL
        SELECT %(nc)s + id, 'system', 'routing', customer_id, NULL::bigint, 'handoff', 'system', 'Owner: the stage''s team',
               jsonb_build_object('to_team', to_team_id, 'to_agent', to_agent_id), created_at FROM lifecycle_handoff
        UNION ALL
        SELECT 2 * %(nc)s + id, 'webhook', 'woocommerce', customer_id, id, 'order_created', 'shop',
               'Order #' || number || ' placed', jsonb_build_object('total', total::text, 'currency', currency),
               placed_at FROM lifecycle_order""", p)

    _seed_big_customer(connection, sizes, p, step)

    with connection.cursor() as c:
        for table in ("lifecycle_customer", "lifecycle_order", "lifecycle_ordersourcestate", "lifecycle_handoff",
                      "lifecycle_ownership", "lifecycle_customeridentity", "lifecycle_exceptioncase",
                      "lifecycle_timelineevent", "lifecycle_agent"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        c.execute("DROP TABLE seed_members, seed_team_size")
    t = time.perf_counter()
    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")
    log(f"  VACUUM ANALYZE: {time.perf_counter() - t:.1f} s")
    log(f"seeded in {time.perf_counter() - started:.0f} s")
    return {"big": big, "manager": manager, "teams": teams}


def _seed_big_customer(connection, sizes, p, step):
    """One customer with a long history: orders, source states, handoffs, exceptions, timeline."""
    p = {**p, "bo": sizes.big_orders, "be": sizes.big_events, "name": BIG_NAME, "email": BIG_EMAIL}
    step("big customer", """
        INSERT INTO lifecycle_customer (id, display_name, email, phone, country, tags, stage, stage_changed_at,
                                        first_order_at, created_at, updated_at)
        VALUES (%(big)s, %(name)s, %(email)s, '+493012345678', 'DE', '["b2b", "wholesale"]'::jsonb, 'active',
                %(now)s - interval '300 days', %(now)s - interval '700 days', %(now)s - interval '701 days', %(now)s)""",
         p)
    step("  its orders", """
        INSERT INTO lifecycle_order (id, system, namespace, external_id, number, currency, total, refunded_total,
                                     product_categories, placed_at, paid_at, state, state_changed_at, created_at,
                                     updated_at, customer_id)
        SELECT %(no)s + i, 'woocommerce', 'main', (%(no)s + i)::text, 'B-' || i, 'EUR', 120 + i %% 900, 0,
               '["espresso machines"]'::jsonb, placed, placed + interval '3 minutes',
               CASE WHEN i > %(bo)s - 5 THEN 'paid' WHEN i %% 25 = 0 THEN 'cancelled' ELSE 'completed' END,
               LEAST(%(now)s, placed + interval '2 days'), placed, %(now)s, %(big)s
        FROM (SELECT i, %(now)s - interval '700 days' + (i - 1) * (interval '700 days' / %(bo)s) AS placed
              FROM generate_series(1, %(bo)s) i) x""", p)
    # Every 50th order: WooCommerce still says "processing" for a completed order (a highlighted row).
    step("  their source states", """
        INSERT INTO lifecycle_ordersourcestate (id, order_id, system, raw_status, observed_at, event_ref, received_at)
        SELECT id, id, 'woocommerce',
               CASE WHEN state = 'paid' OR (state = 'completed' AND id %% 50 = 0) THEN 'processing' ELSE state END,
               state_changed_at, 'seed', state_changed_at
        FROM lifecycle_order WHERE customer_id = %(big)s""", p)
    # 20 handoffs back and forth between success agents; the owner row is the last one.
    step("  handoffs and owner", """
        WITH members AS (SELECT agent_id, n FROM seed_members WHERE team_id = %(t_success)s),
             size AS (SELECT count(*)::int AS n FROM members)
        INSERT INTO lifecycle_handoff (id, actor_kind, actor_ref, customer_id, from_team_id, from_agent_id,
                                       to_team_id, to_agent_id, reason, rule, detail, created_at)
        SELECT %(nc)s + i, 'user', 'bench-manager', %(big)s,
               CASE WHEN i > 1 THEN %(t_success)s END, prev.agent_id, %(t_success)s, cur.agent_id,
               'Rebalanced', '', '{}'::jsonb, %(now)s - interval '700 days' + i * interval '30 days'
        FROM generate_series(1, 20) i CROSS JOIN size
        JOIN members cur ON cur.n = i %% size.n
        LEFT JOIN members prev ON i > 1 AND prev.n = (i - 1) %% size.n""", p)
    step("  owner", """
        INSERT INTO lifecycle_ownership (id, customer_id, team_id, agent_id, since, last_handoff_id)
        SELECT %(big)s, customer_id, to_team_id, to_agent_id, created_at, id FROM lifecycle_handoff
        WHERE customer_id = %(big)s ORDER BY created_at DESC LIMIT 1""", p)
    step("  identities", """
        INSERT INTO lifecycle_customeridentity (id, customer_id, kind, namespace, value, created_at)
        VALUES (2 * %(nc)s + 1, %(big)s, 'email', '', %(email)s, %(now)s),
               (2 * %(nc)s + 2, %(big)s, 'woocommerce', 'main', %(big)s::text, %(now)s)""", p)
    # 40 exceptions: 12 open (6 in progress with the owner, 6 waiting; 3 state mismatches on its
    # orders), 28 closed.
    step("  exceptions", """
        INSERT INTO lifecycle_exceptioncase (id, kind, subject_key, customer_id, order_id, queue_id, assignee_id,
                                             severity, status, summary, evidence, occurrences, due_at, opened_at,
                                             updated_at, claimed_at, breached_at, reopened_count, closed_at,
                                             resolution_reason)
        SELECT %(ne)s + i, kind, 'big:' || i, %(big)s, CASE WHEN kind = 'state_mismatch' THEN %(no)s + i * 10 END,
               CASE WHEN i %% 4 = 0 THEN NULL ELSE %(t_success)s END,
               CASE WHEN i <= 6 OR i > 12 THEN o.agent_id END, 2 + (i %% 3 = 0)::int,
               CASE WHEN i <= 6 THEN 'in_progress' WHEN i <= 12 THEN 'open' WHEN i %% 5 = 0 THEN 'dismissed'
                    ELSE 'resolved' END,
               initcap(replace(kind, '_', ' ')) || ' (big customer #' || i || ')', '{}'::jsonb, 1,
               opened + interval '8 hours', opened, %(now)s,
               CASE WHEN i <= 6 OR i > 12 THEN opened + interval '20 minutes' END,
               CASE WHEN i <= 12 AND opened + interval '8 hours 5 minutes' < %(now)s
                    THEN opened + interval '8 hours 5 minutes' END,
               0, CASE WHEN i > 12 THEN opened + interval '3 hours' END,
               CASE WHEN i > 12 THEN 'Fixed' ELSE '' END
        FROM (SELECT i, CASE WHEN i IN (2, 5, 9) THEN 'state_mismatch' WHEN i %% 4 = 0 THEN 'sync_failure'
                             WHEN i %% 3 = 0 THEN 'missed_touchpoint' ELSE 'at_risk' END AS kind,
                     CASE WHEN i <= 12 THEN %(now)s - i * interval '13 hours'
                          ELSE %(now)s - i * interval '15 days' END AS opened
              FROM generate_series(1, 40) i) x
        CROSS JOIN (SELECT agent_id FROM lifecycle_ownership WHERE customer_id = %(big)s) o""", p)
    # Timeline: one event per order placed and changed, the rest from every source in turn.
    step("  timeline events", """
        INSERT INTO lifecycle_timelineevent (id, actor_kind, actor_ref, customer_id, order_id, kind, source, summary,
                                             data, occurred_at)
        SELECT 2 * %(nc)s + %(no)s + i, a.actor, a.ref, %(big)s, ord, a.kind, a.source, a.summary || ' (' || i || ')',
               jsonb_build_object('n', i), %(now)s - (%(be)s - i) * interval '3 hours'
        FROM (SELECT i, CASE WHEN i <= 2 * %(bo)s THEN %(no)s + (i + 1) / 2 END AS ord,
                     CASE WHEN i <= 2 * %(bo)s THEN i %% 2 ELSE 2 + i %% 5 END AS slot
              FROM generate_series(1, %(be)s) i) x
        JOIN (VALUES (0, 'order_state_changed', 'shop', 'webhook', 'woocommerce', 'Order status changed'),
                     (1, 'order_created', 'shop', 'webhook', 'woocommerce', 'Order placed'),
                     (2, 'erp_invoice', 'erp', 'import', 'erp', 'Invoice booked in the ERP'),
                     (3, 'crm_activity', 'crm', 'import', 'crm', 'Call logged in the CRM'),
                     (4, 'note', 'console', 'user', 'agent1', 'Agent note'),
                     (5, 'exception_opened', 'system', 'system', 'sweep', 'Exception opened'),
                     (6, 'stage_changed', 'system', 'task', 'stages', 'Stage re-evaluated'))
             AS a(slot, kind, source, actor, ref, summary) ON a.slot = x.slot""", p)
