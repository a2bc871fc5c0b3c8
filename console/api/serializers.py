"""What the read API returns. Output only: each serializer reads attributes the selectors in
lifecycle/selectors/api.py loaded, so serializing never queries the database."""

from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from console.selectors.crm import crm_side
from lifecycle.actors import ActorKind
from lifecycle.models import (
    EventKind,
    EventSource,
    ExceptionKind,
    ExceptionStatus,
    JourneyStatus,
    OrderState,
    Severity,
    Stage,
    StepState,
    System,
)
from lifecycle.selectors.api import MANAGERS_QUEUE
from lifecycle.services.journeys.timing import ON_TIME_GRACE
from lifecycle.services.health_score import COMPONENTS as HEALTH_COMPONENTS
from lifecycle.selectors.waiting import UNMAPPED_STATUS

class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


SEVERITY_NAMES = {s.value: s.name.lower() for s in Severity}


@extend_schema_field({"type": "string", "enum": list(SEVERITY_NAMES.values())})
class SeverityField(serializers.Field):
    """Severity by name ("high"), not by its stored rank: scripts should not depend on the numbers."""

    def to_representation(self, value):
        return SEVERITY_NAMES[value]


class TeamSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="__str__", help_text="Full name, or the username when none is set.")


class OwnerSerializer(serializers.Serializer):
    team = TeamSerializer()
    agent = AgentSerializer(allow_null=True, help_text="Null until an agent of the team is assigned.")
    since = serializers.DateTimeField()


class HealthComponentSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=list(HEALTH_COMPONENTS))
    label = serializers.CharField()
    missing = serializers.BooleanField(help_text=(
        "No data to judge it: it is not counted (the present components share its points), never read as "
        "healthy."))
    value = serializers.IntegerField(allow_null=True, help_text=(
        "The raw figure: repeat paid orders; paid orders delivered on time; journey steps done on time; open "
        "exceptions; paid orders refunded; days since the last activity. Null when missing."))
    points = serializers.FloatField(allow_null=True, help_text=(
        "Its share of the 100 points: its weight among the components present. Null when missing."))
    contribution = serializers.FloatField(allow_null=True, help_text="The points it earned. Null when missing.")
    sentence = serializers.CharField(help_text="What it counted, in words.")


class HealthPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    score = serializers.IntegerField(allow_null=True)
    band = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100, allow_null=True,
                                     help_text="Null only when no component has data.")
    band = serializers.ChoiceField(choices=["intervene", "optimize", "expand"], allow_blank=True, help_text=(
        "Below the policy's intervene line: intervene (default 40); up to its expand line: optimize (default "
        "70); above: expand."))
    components = HealthComponentSerializer(many=True)
    trend = HealthPointSerializer(many=True, help_text="The last scores that changed (at most 12), oldest first.")
    policy_version = serializers.IntegerField(help_text="The version of the health policy it was computed under.")
    computed_at = serializers.DateTimeField()


class SourceStateSerializer(serializers.Serializer):
    system = serializers.ChoiceField(choices=System.choices)
    status = serializers.CharField(source="raw_status", help_text="The status exactly as the system reports it.")
    seen_at = serializers.DateTimeField(source="observed_at", help_text="When the system reported it (its clock).")
    means = serializers.ChoiceField(choices=OrderState.choices, allow_null=True, read_only=True, help_text=(
        "The canonical state the status means under that system's status mapping; null while nobody has "
        "mapped it."))


class WaitingExceptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null when the exception sits in a queue you may not "
                                  "open (GET /api/v1/exceptions/ does not list it for you).")
    kind = serializers.ChoiceField(choices=ExceptionKind.choices)
    queue = TeamSerializer(allow_null=True, help_text="The owning team's queue; null is the managers' queue.")
    due_at = serializers.DateTimeField(allow_null=True, help_text="SLA due time.")


class WaitingSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=[(UNMAPPED_STATUS, "The status its own system reports has no mapping: the canonical state stays "
                  "until a manager maps it")],
        help_text="Why it waits.",
    )
    system = serializers.ChoiceField(choices=System.choices, help_text="The order's own system.")
    raw_status = serializers.CharField(help_text="The unmapped status, exactly as the system reports it.")
    exception = serializers.SerializerMethodField(
        help_text="The open exception that tracks it (one per system, store and status, for all the orders "
        "waiting on it). Null when none is open, and when your role may not see exceptions (operations)."
    )

    @extend_schema_field(WaitingExceptionSerializer(allow_null=True))
    def get_exception(self, waiting):
        if waiting.exception is None:
            return None
        data = WaitingExceptionSerializer(waiting.exception).data
        if not waiting.exception_visible:
            data["id"] = None
        return data


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    state = serializers.ChoiceField(choices=OrderState.choices, help_text="Canonical state, derived from the sources.")
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField(help_text="ISO 4217 code.")
    placed_at = serializers.DateTimeField()
    sources = SourceStateSerializer(source="source_states", many=True,
                                    help_text="Per system: the raw status and when it was seen.")
    waiting_on = WaitingSerializer(source="waiting", allow_null=True,
                                   help_text="Why the order waits, or null when it does not.")


class ExceptionBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ExceptionKind.choices)
    summary = serializers.CharField()
    status = serializers.ChoiceField(choices=ExceptionStatus.choices)
    severity = SeverityField()
    queue = TeamSerializer(allow_null=True, help_text="The owning team's queue; null is the managers' queue.")
    assignee = AgentSerializer(allow_null=True)
    order = serializers.CharField(source="order.number", allow_null=True,
                                  help_text="Number of the order it is about, if any.")
    due_at = serializers.DateTimeField(allow_null=True, help_text="SLA due time.")
    opened_at = serializers.DateTimeField()


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="__str__")


class ExceptionSerializer(ExceptionBriefSerializer):
    customer = CustomerRefSerializer(allow_null=True)
    breached_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class CrmSerializer(serializers.Serializer):
    connection = serializers.CharField(source="connection_name", help_text="The CRM connection's name.")
    contact_id = serializers.CharField(help_text="The customer's contact id in the CRM (HubSpot's hs_object_id).")
    owner_id = serializers.CharField(allow_null=True, help_text=(
        "The CRM's owner of the contact (HubSpot's hubspot_owner_id, an owner's id); \"\" when it names none. "
        "Until the console has read the contact back, the owner it last sent. Null when your role may not "
        "see owners (operations)."))
    stage = serializers.CharField(help_text=(
        "The contact's lifecycle stage in the CRM (its internal value: custom HubSpot stages are numeric); "
        "\"\" when none. Until the console has read the contact back, the stage it last sent."))
    synced_at = serializers.DateTimeField(help_text="When the console last sent the contact a change or read it.")


class JourneyStepSerializer(serializers.Serializer):
    key = serializers.SlugField(help_text="The step's key in its playbook.")
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=StepState.choices, help_text=(
        "pending: not done yet; done: done on time; late: done after its due time; missed: its due time passed "
        "with nothing (a missed_touchpoint exception is open for its team); skipped: the journey ended first."))
    overdue = serializers.SerializerMethodField(help_text="Pending past its due time (the sweep marks it missed).")
    team = TeamSerializer(help_text="The team that owes it.")
    due_at = serializers.DateTimeField(help_text=(
        "When it is due now: its calendar due time, or what a behaviour re-timed it to (a day after delivery)."))
    calendar_due_at = serializers.DateTimeField(help_text="The payment plus the step's days.")
    done_at = serializers.DateTimeField(allow_null=True)
    duplicated = serializers.BooleanField(help_text="Done more than once (two touchpoints, or two teams).")

    @extend_schema_field(serializers.BooleanField())
    def get_overdue(self, step):
        return step.state == StepState.PENDING and step.due_at + ON_TIME_GRACE < timezone.now()


class JourneySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    playbook = serializers.CharField(source="playbook.name")
    version = serializers.IntegerField(source="version.number", help_text="The playbook version it follows.")
    status = serializers.ChoiceField(choices=JourneyStatus.choices)
    started_at = serializers.DateTimeField(help_text="Day 0: the payment that started it.")
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField(help_text="Why it ended, in words; empty while it runs.")
    steps = JourneyStepSerializer(source="api_steps", many=True)


class CustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")
    email = serializers.CharField()
    stage = serializers.ChoiceField(choices=Stage.choices)
    owner = serializers.SerializerMethodField(
        help_text="Null when the customer has no owner yet, or when your role may not see owners (operations)."
    )
    health = serializers.SerializerMethodField(help_text=(
        "Value-realization health: the score, its band, each component's points and the trend. Null until the "
        "customer's score is computed (within a minute of its first order)."))
    orders = OrderSerializer(source="recent_orders", many=True,
                             help_text="The latest orders, newest first (at most 20; see orders_total).")
    orders_total = serializers.IntegerField(help_text="How many orders the customer has in all.")
    open_exceptions = serializers.SerializerMethodField(
        help_text="Open and in-progress exceptions, most urgent first (at most 20). "
        "Null when your role may not see exceptions."
    )
    open_exceptions_total = serializers.SerializerMethodField()
    crm = serializers.SerializerMethodField(
        help_text="The customer's contact in the connected CRM. Null when no CRM is connected, or the "
        "customer has no contact there yet."
    )
    journey = serializers.SerializerMethodField(help_text=(
        "The first 30 days: the current journey (the running one, else the latest) with its steps in order, "
        "each with its state, team and due time. Null until a first paid order starts one."))

    @extend_schema_field(OwnerSerializer(allow_null=True))
    def get_owner(self, customer):
        ownership = getattr(customer, "ownership", None) if customer.show_owner else None
        return OwnerSerializer(ownership).data if ownership else None

    @extend_schema_field(HealthSerializer(allow_null=True))
    def get_health(self, customer):
        view = getattr(customer, "health_view", None)  # lifecycle.selectors.health.attach_health
        return HealthSerializer(view).data if view is not None and view.computed_at else None

    @extend_schema_field(ExceptionBriefSerializer(many=True, allow_null=True))
    def get_open_exceptions(self, customer):
        if not customer.show_exceptions:
            return None
        return ExceptionBriefSerializer(customer.recent_open_exceptions, many=True).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_open_exceptions_total(self, customer):
        return customer.open_exceptions_total if customer.show_exceptions else None

    @extend_schema_field(JourneySerializer(allow_null=True))
    def get_journey(self, customer):
        journey = getattr(customer, "current_journey", None)  # lifecycle.selectors.journeys.attach_journeys
        if journey is None:
            return None
        journey.api_steps = customer.journey_steps
        return JourneySerializer(journey).data

    @extend_schema_field(CrmSerializer(allow_null=True))
    def get_crm(self, customer):
        side = crm_side(customer)  # the columns the API's read of its customers carried (with_crm)
        if side is None:
            return None
        data = CrmSerializer(side).data
        if not customer.show_owner:
            data["owner_id"] = None
        return data


class ActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(source="actor_kind", choices=ActorKind.choices)
    ref = serializers.CharField(source="actor_ref", help_text="Username, task name, delivery or import reference.")


class TimelineEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EventKind.choices)
    source = serializers.ChoiceField(choices=EventSource.choices)
    summary = serializers.CharField()
    data = serializers.DictField(help_text="Event details; their keys depend on the kind.")
    order = serializers.CharField(source="order.number", allow_null=True)
    actor = ActorSerializer(source="*")
    occurred_at = serializers.DateTimeField()


# --- Query parameters (validated: a bad value answers 400, never a guess) ----------------------
class _GivenWhenPresent:
    def get_value(self, dictionary):
        # DRF reads `?email=` in a query string as "not given": a sidebar sending an empty email
        # would then list every customer. A parameter that is present is validated, empty or not.
        if self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)


class LookupField(_GivenWhenPresent, serializers.CharField):
    """A lookup value as sent: blanks around it are the selector's to strip (a value that is only
    blanks matches nothing rather than everything). A NUL character is refused (no stored value
    has one, and PostgreSQL rejects it); the pattern puts that rule in the schema."""

    def __init__(self, **kwargs):
        super().__init__(required=False, trim_whitespace=False, **kwargs)
        self.validators.append(RegexValidator(r"^[^\x00]*$", message="Null characters are not allowed."))


class FilterChoiceField(_GivenWhenPresent, serializers.ChoiceField):
    def __init__(self, choices, **kwargs):
        super().__init__(choices, required=False, **kwargs)


class CustomerQuerySerializer(serializers.Serializer):
    email = LookupField(max_length=254, help_text="Trimmed and case-insensitive; primary email or any linked email.")
    order_number = LookupField(max_length=64, help_text='An order number as customers see it ("1042" or "#1042").')
    external_id = LookupField(max_length=254, help_text="Any identity the customer has in any system: WooCommerce "
                              "customer id, CRM contact id, ERP customer code, email or phone as stored.")


class TimelineQuerySerializer(serializers.Serializer):
    source = FilterChoiceField(EventSource.choices)


class ExceptionQuerySerializer(serializers.Serializer):
    queue = LookupField(max_length=40, help_text=f'A team slug, or "{MANAGERS_QUEUE}" for the managers\' queue.')
    status = FilterChoiceField(ExceptionStatus.choices)
    kind = FilterChoiceField(ExceptionKind.choices)
