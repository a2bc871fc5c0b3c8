"""Who may see which customers and exceptions: every screen and API endpoint filters through here.

Managers and operations (permission `view_all_customers`) see everything. A support agent sees the
customers their teams own or they own, and any customer with an exception in their teams' queues or
assigned to them; and the exceptions of their teams' queues, assigned to them, or about a customer
their teams own. Everyone else sees nothing.

A support agent may still be told who owns another team's customer (its team's name and its stage,
nothing more): search lists it without a link, and its screen says whom to ask (`may_ask_who_owns`).
"""

from django.db.models import Exists, OuterRef, Q

from lifecycle.models import Agent, Customer, ExceptionCase

SEE_ALL = "lifecycle.view_all_customers"


def sees_everything(user):
    return user.is_active and user.has_perm(SEE_ALL)


def agent_of(user):
    """The user's Agent or None (one query; cached on the user for the request)."""
    if not hasattr(user, "_aftercare_agent"):
        user._aftercare_agent = Agent.objects.filter(user_id=user.pk).first() if user.is_authenticated else None
    return user._aftercare_agent


def may_ask_who_owns(user):
    """Whether the user, who may not open every customer, may learn the owner team and stage of one
    they may not open: support agents (an Agent with the customer view permission)."""
    return (not sees_everything(user) and agent_of(user) is not None
            and user.has_perm("lifecycle.view_customer"))


def _team_ids(agent):
    return agent.teams.values("id")


def customers_visible_to(user, queryset=None):
    queryset = Customer.objects.all() if queryset is None else queryset
    if sees_everything(user):
        return queryset
    agent = agent_of(user)
    if agent is None or not user.has_perm("lifecycle.view_customer"):
        return queryset.none()
    teams = _team_ids(agent)
    with_exception = ExceptionCase.objects.filter(customer_id=OuterRef("pk")).filter(
        Q(queue_id__in=teams) | Q(assignee_id=agent.pk)
    )
    return queryset.filter(
        Q(ownership__team_id__in=teams) | Q(ownership__agent_id=agent.pk) | Exists(with_exception)
    )


def exceptions_visible_to(user, queryset=None):
    queryset = ExceptionCase.objects.all() if queryset is None else queryset
    if sees_everything(user):
        return queryset
    agent = agent_of(user)
    if agent is None or not user.has_perm("lifecycle.view_exceptioncase"):
        return queryset.none()
    teams = _team_ids(agent)
    return queryset.filter(
        Q(queue_id__in=teams) | Q(assignee_id=agent.pk) | Q(customer__ownership__team_id__in=teams)
    )


def customer_visible_to(user, customer_id):
    return customers_visible_to(user, Customer.objects.filter(pk=customer_id)).exists()
