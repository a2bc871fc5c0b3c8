"""The console's side and the CRM's side of customers, as conflicts.py compares them, read once per
batch: stages, owners, the agents linked to HubSpot owners, the stage mapping; and the handoffs to
the CRM's owners when the connection accepts them."""

from dataclasses import dataclass

from integrations.crm.models import CrmContactState, CrmOwnerLink
from lifecycle.db import owners as owner_rows
from lifecycle.models import Agent, Customer, Ownership, Stage, StagePolicy
from lifecycle.services.ownership import Transfer, handoffs_write

# The forward stage moves (a rule may make them; backward ones need a manager): (from, to) -> transition.
FORWARD = {(str(t.source), str(t.target)): t.name
           for t in Customer._meta.get_field("stage").get_all_transitions(Customer)
           if not (t.custom or {}).get("backward")}
CRM_HANDOFF = "crm_handoff"  # the rule a handoff the CRM made is recorded under


@dataclass
class Sides:
    connection: object
    stages: dict  # customer id: console stage
    owners: dict  # customer id: OwnerRow (ids only)
    owner_by_agent: dict  # agent id: HubSpot owner id
    agent_by_owner: dict  # HubSpot owner id: agent id (the first linked, by agent id)
    stage_map: dict  # console stage: lifecyclestage value ("" not pushed)
    _agents: dict | None = None

    @classmethod
    def load(cls, connection, customer_ids):
        ids = sorted(set(customer_ids))
        links = list(CrmOwnerLink.objects.filter(connection=connection).exclude(owner_id="").order_by("agent_id")
                     .values_list("agent_id", "owner_id"))
        agent_by_owner = {}
        for agent_id, owner_id in links:
            agent_by_owner.setdefault(owner_id, agent_id)
        return cls(connection=connection,
                   stages=dict(Customer.objects.filter(pk__in=ids).values_list("pk", "stage")),
                   owners=owner_rows.owner_ids(ids), owner_by_agent=dict(links), agent_by_owner=agent_by_owner,
                   stage_map=dict(connection.stage_mappings.values_list("stage", "hubspot_stage")))

    def console_owner_id(self, customer_id):
        """The HubSpot owner id of the console's agent for the customer; None without one."""
        owner = self.owners.get(customer_id)
        return self.owner_by_agent.get(owner.agent_id) if owner and owner.agent_id else None

    @property
    def agents(self):
        if self._agents is None:
            self._agents = Agent.objects.select_related("user").prefetch_related("teams").in_bulk(
                set(self.agent_by_owner.values()))
        return self._agents

    def agent_for_owner(self, owner_id):
        """(agent, "") the console can hand a customer to for a HubSpot owner, or (None, why not)."""
        agent = self.agents.get(self.agent_by_owner.get(owner_id))
        if agent is None:
            return None, (f"No agent is linked to HubSpot owner {owner_id} "
                          "(check the connection to link agents by email).")
        if not agent.user.is_active:
            return None, f"{agent} is deactivated."
        if not agent.teams.all():
            return None, f"{agent} belongs to no team."
        return agent, ""

    def forward_to(self, stage, crm_value):
        """The transition taking `stage` to the first console stage mapped to `crm_value`, when it is
        a forward move; None otherwise. HubSpot's "customer" is onboarding, active and at risk to the
        console: the CRM saying it moves a customer only as far as onboarding."""
        targets = [s for s in Stage.values if self.stage_map.get(s) == crm_value]
        return FORWARD.get((stage, targets[0])) if targets else None


def _team_for(agent, current, stage_team_id):
    """The agent's team to own the customer: the current owner team if the agent is in it, else
    the stage's team if the agent is in that, else the agent's first team."""
    teams = sorted(agent.teams.all(), key=lambda t: t.pk)
    for wanted in (current.team_id if current else None, stage_team_id):
        for team in teams:
            if team.pk == wanted:
                return team
    return teams[0]


def handoffs_to_crm_owners(ctx, handoffs, actor, connection):
    """Hand each customer to the agent the CRM named: [(customer id, agent id)]. The owner rows are
    locked and the handoffs written in one batch by the ownership service (never two owners)."""
    ids = [customer_id for customer_id, _ in handoffs]
    owners, reserved = owner_rows.lock_owners(ids)
    customers = Customer.objects.in_bulk(ids)
    stage_teams = dict(StagePolicy.objects.values_list("stage", "team_id"))
    transfers = []
    for customer_id, agent_id in handoffs:
        agent, customer, current = ctx.agents[agent_id], customers[customer_id], owners.get(customer_id)
        transfers.append(Transfer(
            customer=customer, current=current, team=_team_for(agent, current, stage_teams.get(customer.stage)),
            agent=agent, actor=actor, rule=CRM_HANDOFF, start_clock=False, handoff_id=reserved.get(customer_id),
            reason=f"{connection.name} named {agent} the owner (the connection accepts the CRM's handoffs)",
            detail={"connection_id": connection.pk, "hubspot_owner_id": ctx.owner_by_agent.get(agent_id)}))
    return handoffs_write(transfers)


def console_owners(customer_ids):
    """{customer id: the console's owner of the customer for a conflict's evidence}: names and since
    when, for a batch's customers in one query."""
    found = {o.customer_id: o for o in Ownership.objects.select_related("team", "agent__user")
             .filter(customer_id__in=set(customer_ids))}
    owners = {}
    for customer_id in customer_ids:
        owner = found.get(customer_id)
        if owner is None:
            owners[customer_id] = {"name": "nobody", "team": None, "agent": None, "agent_id": None, "since": None}
            continue
        agent = str(owner.agent) if owner.agent else None
        owners[customer_id] = {"name": f"{owner.team} / {agent or 'unassigned'}", "team": str(owner.team),
                               "team_id": owner.team_id, "agent": agent, "agent_id": owner.agent_id,
                               "since": owner.since.isoformat()}
    return owners


def crm_owners(connection, owner_ids):
    """{HubSpot owner id: the CRM's owner for a conflict's evidence}: the agent linked to it (the
    first, as agent_for_owner takes it), else HubSpot's id; for a batch's owners in one query."""
    links = {}
    for link in (CrmOwnerLink.objects.select_related("agent__user")
                 .filter(connection=connection, owner_id__in=set(owner_ids)).order_by("agent_id")):
        links.setdefault(link.owner_id, link)
    owners = {}
    for owner_id in owner_ids:
        link = links.get(owner_id)
        owners[owner_id] = {"name": (link.owner_name or str(link.agent)) if link else f"HubSpot owner {owner_id}",
                            "owner_id": owner_id, "email": link.owner_email if link else "",
                            "agent_id": link.agent_id if link else None, "agent": str(link.agent) if link else None}
    return owners


def crm_stage_is_later(connection, customer):
    """Whether the CRM's stage for the customer comes after the console's mapped one in the account's
    order: pushing the console's stage back then is a backward move (clear, then set)."""
    state = CrmContactState.objects.filter(connection=connection, customer=customer).first()
    mapped = dict(connection.stage_mappings.values_list("stage", "hubspot_stage")).get(customer.stage)
    order = connection.stage_order()
    return bool(state and mapped) and order.get(state.stage, -1) > order.get(mapped, -1)
