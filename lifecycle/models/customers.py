"""Customers, their identities across systems, and the lifecycle stage machine."""

from django.db import models
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class Stage(models.TextChoices):
    # Before the first order a customer exists (a shop account) but nobody owns it yet.
    PROSPECT = "prospect", "Prospect (no order yet)"
    PURCHASED = "purchased", "Purchased"
    ONBOARDING = "onboarding", "Onboarding"
    ACTIVE = "active", "Active"
    AT_RISK = "at_risk", "At risk"
    LOYAL = "loyal", "Loyal"
    CHURNED = "churned", "Churned"


S = Stage
MOVE_FORWARD = "lifecycle.move_stage"
MOVE_BACKWARD = "lifecycle.move_stage_backward"


def _forward(label):
    return {"label": label, "backward": False}


def _backward(label):
    return {"label": label, "backward": True}


class Customer(ConcurrentTransitionMixin, models.Model):
    display_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True, help_text="Primary email, normalised.")
    phone = models.CharField(max_length=32, blank=True, help_text="Primary phone, E.164-like digits.")
    country = models.CharField(max_length=2, blank=True)
    tags = models.JSONField(default=list, blank=True, help_text="Free labels routing rules can match (e.g. vip).")
    stage = FSMField(default=S.PROSPECT, choices=Stage.choices, protected=True)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    # Indexed for the dashboard's windows over first purchases (time to owner, weekly cohorts).
    first_order_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Stages are matched whole: no LIKE index beside it, as db_index would add.
        indexes = [models.Index(fields=["stage"], name="customer_stage_idx")]
        permissions = [
            ("reassign_owner", "Can reassign a customer's owner"),
            ("move_stage", "Can move a customer's stage forward"),
            ("move_stage_backward", "Can move a customer's stage backward"),
            ("view_all_customers", "Can see every customer, not only those of their own teams"),
        ]

    def __str__(self):
        return self.display_name or self.email or f"Customer #{self.pk}"

    # --- forward moves: by rule (orders, sweeps) or by any agent ----------------------------
    @transition(stage, source=S.PROSPECT, target=S.PURCHASED, permission=MOVE_FORWARD,
                custom=_forward("First order placed (unpaid)"))
    def purchase(self):
        pass

    @transition(stage, source=[S.PROSPECT, S.PURCHASED], target=S.ONBOARDING, permission=MOVE_FORWARD,
                custom=_forward("First order paid: start onboarding"))
    def start_onboarding(self):
        pass

    @transition(stage, source=[S.ONBOARDING, S.AT_RISK, S.CHURNED], target=S.ACTIVE, permission=MOVE_FORWARD,
                custom=_forward("Activate"))
    def activate(self):
        pass

    @transition(stage, source=[S.ONBOARDING, S.ACTIVE, S.LOYAL], target=S.AT_RISK, permission=MOVE_FORWARD,
                custom=_forward("Flag at risk"))
    def flag_at_risk(self):
        pass

    @transition(stage, source=S.ACTIVE, target=S.LOYAL, permission=MOVE_FORWARD, custom=_forward("Mark loyal"))
    def make_loyal(self):
        pass

    @transition(stage, source=[S.PURCHASED, S.ONBOARDING, S.ACTIVE, S.AT_RISK, S.LOYAL], target=S.CHURNED,
                permission=MOVE_FORWARD, custom=_forward("Churn"))
    def churn(self):
        pass

    # --- backward moves: a manager, with a reason ---------------------------------------------
    @transition(stage, source=S.ONBOARDING, target=S.PURCHASED, permission=MOVE_BACKWARD,
                custom=_backward("Back to purchased"))
    def back_to_purchased(self):
        pass

    @transition(stage, source=[S.ACTIVE, S.AT_RISK], target=S.ONBOARDING, permission=MOVE_BACKWARD,
                custom=_backward("Back to onboarding"))
    def back_to_onboarding(self):
        pass

    @transition(stage, source=S.LOYAL, target=S.ACTIVE, permission=MOVE_BACKWARD, custom=_backward("Back to active"))
    def back_to_active(self):
        pass


STAGE_TRANSITIONS = {t.name: t for t in Customer._meta.get_field("stage").get_all_transitions(Customer)}


class IdentityKind(models.TextChoices):
    WOOCOMMERCE = "woocommerce", "WooCommerce customer id"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    CRM = "crm", "CRM contact id"
    ERP = "erp", "ERP customer code"


class CustomerIdentity(models.Model):
    """One identifier of a customer in one system; each is unique per (kind, namespace).

    The namespace tells apart the systems of one kind: the store slug for WooCommerce ids (two
    stores both have a customer 5), the CRM portal, the ERP company; empty for emails and phones.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=64, blank=True)
    value = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "namespace", "value"], name="identity_unique_per_system"),
        ]
        indexes = [models.Index(fields=["value"], name="identity_value_idx")]
        verbose_name_plural = "customer identities"

    def __str__(self):
        where = f"{self.kind}/{self.namespace}" if self.namespace else self.kind
        return f"{where}: {self.value}"
