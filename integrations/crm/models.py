"""The CRM connection and what the console keeps about it: the stage and owner mappings, the CRM's
contact of each customer, and the outbox of changes on their way to the CRM.

The outbox (OutboundMessage) lives here, not in integrations/models.py where ARCHITECTURE.md first
put it: every message belongs to a CRM connection and is written, delivered and shown by this app,
and the shops have no outbound messages. Keeping it beside CrmConnection spares integrations a
dependency on the CRM's models (and the CRM's migrations stay in one app).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integrations.crypto import EncryptedTextField, mask
from lifecycle.models import Agent, Customer, Order, Stage

HUBSPOT_API = "https://api.hubapi.com"
# HubSpot's daily request cap for a Free or Starter account's private apps; Professional allows
# 625,000 and Enterprise 1,000,000 (HubSpot's API usage guidelines). Raise it to the account's.
DAILY_CAP = 250_000

# HubSpot's eight default lifecyclestage options in their order (internal value, label): the order
# decides which moves are backward. An account's own options are read at every check.
HUBSPOT_STAGES = [
    ("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing qualified lead"),
    ("salesqualifiedlead", "Sales qualified lead"), ("opportunity", "Opportunity"), ("customer", "Customer"),
    ("evangelist", "Evangelist"), ("other", "Other"),
]
# The names of the stages of HubSpot's default deal pipeline (an account's own stages have numeric ids).
HUBSPOT_DEAL_STAGES = {
    "appointmentscheduled": "Appointment scheduled", "qualifiedtobuy": "Qualified to buy",
    "presentationscheduled": "Presentation scheduled", "decisionmakerboughtin": "Decision maker bought-in",
    "contractsent": "Contract sent", "closedwon": "Closed won", "closedlost": "Closed lost",
}
# The console's stages onto HubSpot's defaults (editable per connection). Every stage after the
# first paid order is a customer to HubSpot; loyal ones are its evangelists, churned ones "other".
DEFAULT_STAGE_MAP = {
    Stage.PROSPECT: "lead", Stage.PURCHASED: "opportunity", Stage.ONBOARDING: "customer",
    Stage.ACTIVE: "customer", Stage.AT_RISK: "customer", Stage.LOYAL: "evangelist", Stage.CHURNED: "other",
}


class CrmConnection(models.Model):
    class Kind(models.TextChoices):
        HUBSPOT = "hubspot", "HubSpot"

    class Tier(models.IntegerChoices):
        # HubSpot's burst limit per private app (API usage guidelines); the adapter paces below it.
        STARTER = 100, "Free or Starter: 100 requests per 10 seconds"
        PROFESSIONAL = 190, "Professional or Enterprise: 190 requests per 10 seconds"

    class Policy(models.TextChoices):
        CONSOLE_IS_TRUTH = "console_is_truth", "The console is the truth (a different CRM owner is a conflict)"
        ACCEPT_CRM_HANDOFFS = "accept_crm_handoffs", "Accept the CRM's handoffs (its owner becomes the console's)"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUBSPOT)
    name = models.CharField(max_length=120, unique=True, default="HubSpot")
    base_url = models.URLField(default=HUBSPOT_API,
                               help_text="HubSpot's API, or the address of the sandbox or another compatible server.")
    token = EncryptedTextField(help_text="The private app's access token; stored encrypted, never shown back.")
    requests_per_10s = models.PositiveSmallIntegerField("limit per 10 seconds", choices=Tier.choices,
                                                        default=Tier.STARTER)
    daily_cap = models.PositiveIntegerField("requests per day", default=DAILY_CAP)
    conflict_policy = models.CharField(max_length=24, choices=Policy.choices, default=Policy.CONSOLE_IS_TRUTH,
                                       help_text="When the CRM names a different owner than the console.")
    is_active = models.BooleanField(default=True, help_text="Inactive: no changes are written for it or sent.")
    created_at = models.DateTimeField(default=timezone.now)
    # What the last check found (written by crm_connection_check, not edited).
    checked_at = models.DateTimeField(null=True, blank=True)
    check_ok = models.BooleanField(null=True)
    check_message = models.TextField(blank=True)
    scopes = models.JSONField(default=list, blank=True)
    stage_options = models.JSONField(default=list, blank=True, help_text="The account's lifecyclestage options.")
    # One deliverer per connection: the run holding this lease (integrations/crm/delivery.py).
    delivering_until = models.DateTimeField(null=True, blank=True)
    delivering_by = models.CharField(max_length=64, blank=True)
    # The requests sent to HubSpot on one of its days, every process together (integrations/crm/daily_cap.py).
    requests_day = models.DateField(null=True, blank=True)
    requests_today = models.PositiveIntegerField("requests sent that day", default=0)
    time_zone = models.CharField(
        "HubSpot account's time zone", max_length=64, blank=True,
        help_text="Read from HubSpot at each check: its daily request cap counts days in this zone. Empty: UTC.")
    history = HistoricalRecords(excluded_fields=["token", "checked_at", "check_ok", "check_message", "scopes",
                                                 "stage_options", "delivering_until", "delivering_by",
                                                 "requests_day", "requests_today", "time_zone"])

    class Meta:
        ordering = ["name"]
        verbose_name = "CRM connection"

    def __str__(self):
        return self.name

    @property
    def token_hint(self):
        return mask(self.token)

    def stage_order(self):
        """{lifecyclestage value: its position}: the account's options once checked, else HubSpot's defaults."""
        if self.stage_options:
            return {option["value"]: option["order"] for option in self.stage_options}
        return {value: n for n, (value, _) in enumerate(HUBSPOT_STAGES)}

    def stage_labels(self):
        if self.stage_options:
            return {option["value"]: option["label"] for option in self.stage_options}
        return dict(HUBSPOT_STAGES)


class CrmStageMapping(models.Model):
    """A console stage → the connection's lifecyclestage value; editable, with history."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="stage_mappings")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    hubspot_stage = models.CharField(
        "HubSpot stage", max_length=64, blank=True,
        help_text="The option's internal value (custom stages have numeric ones); empty: this stage is not pushed.")
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "stage"], name="crm_one_mapping_per_stage")]
        ordering = ["connection", "id"]
        verbose_name = "CRM stage mapping"

    def __str__(self):
        return f"{self.get_stage_display()} → {self.hubspot_stage or 'not pushed'}"


class CrmOwnerLink(models.Model):
    """An agent's HubSpot owner, found by email at each check; empty owner: none has the agent's email."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="owner_links")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="crm_owner_links")
    # hubspot_owner_id takes the owner's id, never its userId (HubSpot's owners API).
    owner_id = models.CharField("HubSpot owner id", max_length=32, blank=True)
    owner_email = models.EmailField(blank=True)
    owner_name = models.CharField(max_length=200, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "agent"], name="crm_one_owner_per_agent")]
        ordering = ["connection", "agent__user__username"]
        verbose_name = "CRM owner link"

    def __str__(self):
        return f"{self.agent} → {self.owner_email or self.owner_id or 'no HubSpot owner'}"


class CrmContact(models.Model):
    """The customer's contact in the CRM and what the console last pushed to it."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="contacts")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="crm_contacts")
    contact_id = models.CharField(max_length=32)
    pushed = models.JSONField(default=dict, blank=True, help_text="The properties last sent, by name.")
    last_synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "customer"], name="crm_one_contact_per_customer")]
        indexes = [models.Index(fields=["connection", "contact_id"], name="crm_contact_id_idx")]
        verbose_name = "CRM contact"

    def __str__(self):
        return f"{self.customer} ↔ contact {self.contact_id}"


class OutboundMessage(models.Model):
    """One change of a customer on its way to a CRM: the outbox, written in the change's transaction.

    Newest wins per customer and field (per order, for deals): a pending message is superseded,
    never sent, once a newer message of the same connection, customer and field (and order) exists
    (delivery.py), so an older change is never applied after a newer one, whatever retries, dead
    letters or replays did to either. `idempotency_key` names the change (connection, then a handoff
    id, a stage and its moment, an order's state and its moment): announcing one change twice cannot
    queue it twice.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        SUPERSEDED = "superseded", "Superseded by a newer change"
        SKIPPED = "skipped", "Not sent (nothing to send)"
        DEAD = "dead", "Dead letter (retries exhausted)"

    class Field(models.TextChoices):
        CONTACT = "contact", "New contact"
        OWNER = "owner", "Owner"
        STAGE = "stage", "Lifecycle stage"
        DEAL = "deal", "Deal (an order)"

    # No index of their own: the indexes below lead with them where the queries need it, and every
    # index is paid on each insert of the hot path.
    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Deals only: the order the deal is of (its messages are "newest wins" per order).
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+", null=True, blank=True,
                              db_index=False)
    field = models.CharField(max_length=16, choices=Field.choices)
    value = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=16, blank=True, help_text="The cause of the last failure.")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbound message"
        indexes = [
            # The delivery's read: a connection's pending messages in the order they were written.
            models.Index(fields=["connection", "id"], condition=Q(state="pending"), name="crm_outbox_pending_idx"),
            # Dead letters by cause: the sync_failure's counts and the admin's replay.
            models.Index(fields=["connection", "error_kind"], condition=Q(state="dead"), name="crm_outbox_dead_idx"),
            # "Is there a newer message of this customer and field?", and a customer's messages.
            models.Index(fields=["customer", "field", "id"], name="crm_outbox_newest_idx"),
        ]

    def __str__(self):
        return f"{self.customer}: {self.get_field_display().lower()} ({self.get_state_display().lower()})"


# Inbound (pulls, webhooks) -----------------------------------------------------------------------
# What the console reads back from the CRM: where each pull resumes, what the CRM last said about a
# customer's contact and each deal, which activities are on timelines, what deal stages mean, and the
# app secret HubSpot signs webhooks with. Written by pulls.py, inbound.py, deals.py, activities.py.

from integrations.models import MAPPING_CHOICES  # noqa: E402 (this section's import, kept with it)


class CrmCursor(models.Model):
    """Where a connection's next pull of one object type resumes: every record before (modified_at,
    last_id) in (stamp, id) order is done (integrations/crm/windows.py). It moves only in the
    transaction that commits a page's effects, so a crash redoes at most that page, never skips one.

    One pull per connection and type at a time: a run holds the lease (pulling_by until
    pulling_until) and saves the cursor only while it holds it."""

    class ObjectType(models.TextChoices):
        CONTACTS = "contacts", "Contacts"
        DEALS = "deals", "Deals"
        ACTIVITIES = "activities", "Activities"

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="cursors")
    object_type = models.CharField(max_length=16, choices=ObjectType.choices)
    modified_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the next pull reads everything.")
    last_id = models.CharField(max_length=64, blank=True, help_text="Activities: type:id (ids of types overlap).")
    pulling_until = models.DateTimeField(null=True, blank=True)
    pulling_by = models.CharField(max_length=64, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    records = models.PositiveBigIntegerField(default=0, help_text="Records processed, all runs together.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "object_type"], name="crm_one_cursor_per_type")]
        verbose_name = "CRM pull cursor"

    def __str__(self):
        return f"{self.connection} {self.object_type}: after {self.modified_at or 'the beginning'} {self.last_id}"


class CrmContactState(models.Model):
    """What the CRM last said about a customer's contact: its owner and lifecycle stage, when each
    was set to its value, and the newest CRM stamp applied per property (an older word, a webhook
    arriving late, changes nothing). The CRM's side of the customer screen's owner section."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="contact_states")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="crm_states")
    contact_id = models.CharField(max_length=32)
    owner_id = models.CharField("HubSpot owner id", max_length=32, blank=True)
    owner_set_at = models.DateTimeField(null=True, blank=True, help_text="When the CRM's owner became this one.")
    owner_seen_at = models.DateTimeField(null=True, blank=True, help_text="The newest CRM stamp of the owner.")
    stage = models.CharField("HubSpot lifecycle stage", max_length=64, blank=True)
    stage_set_at = models.DateTimeField(null=True, blank=True)
    stage_seen_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "customer"], name="crm_one_state_per_customer"),
            models.UniqueConstraint(fields=["connection", "contact_id"], name="crm_one_state_per_contact"),
        ]
        verbose_name = "CRM contact state"

    def __str__(self):
        return f"{self.customer}: owner {self.owner_id or '—'}, stage {self.stage or '—'}"


class CrmDealStageMapping(models.Model):
    """A deal stage of the connection → what it means for the order (a canonical state, or "not an
    order"): editable, with history; HubSpot's default pipeline has defaults (integrations/crm/deals.py)."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="deal_stage_mappings")
    dealstage = models.CharField("deal stage", max_length=64, help_text="The stage's internal id (dealstage).")
    canonical = models.CharField(max_length=32, choices=MAPPING_CHOICES)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "dealstage"],
                                               name="crm_one_mapping_per_dealstage")]
        ordering = ["connection", "id"]
        verbose_name = "CRM deal stage mapping"

    def __str__(self):
        return f"{HUBSPOT_DEAL_STAGES.get(self.dealstage, self.dealstage)} → {self.get_canonical_display()}"


class CrmDeal(models.Model):
    """A CRM deal that names one of the console's orders, and its stage as last seen: a webhook that
    says only "deal 42's stage changed" finds its order here."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="deals")
    deal_id = models.CharField(max_length=32)
    order_system = models.CharField(max_length=16)
    order_namespace = models.CharField(max_length=64)
    order_number = models.CharField(max_length=64)
    dealstage = models.CharField(max_length=64, blank=True)
    # The deal's own amount and currency as last read: a webhook names the stage alone.
    amount = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    modified_at = models.DateTimeField(help_text="The CRM's stamp of the stage last seen.")
    # What the outbox last sent to the deal, by property: a pulled stage equal to it is our own write
    # coming back (an echo), not the CRM's word on the order.
    pushed = models.JSONField(default=dict, blank=True, help_text="The properties last sent, by name.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "deal_id"], name="crm_one_row_per_deal")]
        verbose_name = "CRM deal"

    def __str__(self):
        return f"deal {self.deal_id} → order #{self.order_number} ({self.dealstage})"


class CrmActivity(models.Model):
    """An activity put on a customer's timeline: the key that makes importing it again a no-op."""

    connection = models.ForeignKey(CrmConnection, on_delete=models.CASCADE, related_name="+")
    activity = models.CharField(max_length=48, help_text="type:id, as the CRM names it (note:123).")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    occurred_at = models.DateTimeField()
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "activity", "customer"],
                                               name="crm_activity_once_per_customer")]
        verbose_name = "CRM activity"
        verbose_name_plural = "CRM activities"

    def __str__(self):
        return f"{self.activity} on customer #{self.customer_id}"


class CrmWebhookSecret(models.Model):
    """The HubSpot app's client secret, which signs its webhooks (X-HubSpot-Signature-v3): stored
    encrypted. Without one the connection's webhook URL refuses every delivery."""

    connection = models.OneToOneField(CrmConnection, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = EncryptedTextField(help_text="The app's client secret; stored encrypted, never shown back.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "CRM webhook secret"

    def __str__(self):
        return f"{self.connection}: {mask(self.secret)}"
