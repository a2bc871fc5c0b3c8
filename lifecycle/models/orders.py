"""Orders: the raw status each system reports, and one canonical state derived from them."""

from django.db import models
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from lifecycle.models.customers import Customer


class OrderState(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    ON_HOLD = "on_hold", "On hold"
    PAID = "paid", "Paid"
    FULFILLING = "fulfilling", "Fulfilling"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted in the shop"


O = OrderState
# Money was taken and (so far) kept: these count as paid orders for stages and health.
PAID_STATES = frozenset({O.PAID, O.FULFILLING, O.SHIPPED, O.DELIVERED, O.COMPLETED, O.PARTIALLY_REFUNDED})
UNPAID_STATES = frozenset({O.PENDING_PAYMENT, O.ON_HOLD, O.FAILED})
# The order is over without (kept) money: all of a customer's orders in these means churn.
DEAD_STATES = frozenset({O.CANCELLED, O.REFUNDED, O.FAILED, O.DELETED})
_LIVE = [s for s in OrderState if s != O.DELETED]


class System(models.TextChoices):
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    ERP = "erp", "ERP"
    CRM = "crm", "CRM"


class Order(ConcurrentTransitionMixin, models.Model):
    # Indexed by order_customer_placed_idx (customer first).
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", db_index=False)
    system = models.CharField(max_length=16, choices=System.choices, default=System.WOOCOMMERCE,
                              help_text="The system the order was born in.")
    namespace = models.CharField(max_length=64, blank=True, help_text="Store slug (or ERP company).")
    external_id = models.CharField(max_length=64, help_text="The order's id in its system.")
    # Indexed by order_number_idx: numbers are matched whole (search, the API, the ERP's rows).
    number = models.CharField(max_length=64, help_text="The number customers see.")
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    refunded_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    product_categories = models.JSONField(default=list, blank=True, help_text="For routing by category.")
    placed_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    state = FSMField(default=O.PENDING_PAYMENT, choices=OrderState.choices, protected=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["system", "namespace", "external_id"], name="order_unique_per_system"),
        ]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_placed_idx"),
            # States and numbers are matched whole: no LIKE index beside them, as db_index would add
            # (one more index for every order written, and an update of its state writes to each).
            models.Index(fields=["state"], name="order_state_idx"),
            models.Index(fields=["number"], name="order_number_idx"),
        ]

    def __str__(self):
        return f"#{self.number}"

    @property
    def is_paid(self):
        return self.state in PAID_STATES

    # One transition per target state; `source` lists where it may come from. The graph follows
    # what shops and ERPs really do: WooCommerce's payment_complete() accepts on-hold, pending,
    # failed and cancelled orders; refunds can follow any paid state; trash can hit any order.
    @transition(state, source=[O.ON_HOLD, O.FAILED, O.CANCELLED], target=O.PENDING_PAYMENT)
    def mark_pending_payment(self):
        pass

    @transition(state, source=[O.PENDING_PAYMENT, O.FAILED, O.PAID], target=O.ON_HOLD)
    def mark_on_hold(self):
        pass

    @transition(state, source=[O.PENDING_PAYMENT, O.ON_HOLD, O.FAILED, O.CANCELLED], target=O.PAID)
    def mark_paid(self):
        pass

    @transition(state, source=[O.PAID], target=O.FULFILLING)
    def mark_fulfilling(self):
        pass

    @transition(state, source=[O.PAID, O.FULFILLING], target=O.SHIPPED)
    def mark_shipped(self):
        pass

    @transition(state, source=[O.SHIPPED], target=O.DELIVERED)
    def mark_delivered(self):
        pass

    @transition(state, source=[O.PENDING_PAYMENT, O.ON_HOLD, O.FAILED, O.PAID, O.FULFILLING, O.SHIPPED,
                               O.DELIVERED, O.PARTIALLY_REFUNDED], target=O.COMPLETED)
    def mark_completed(self):
        pass

    @transition(state, source=[O.PENDING_PAYMENT, O.ON_HOLD, O.FAILED, O.PAID, O.FULFILLING], target=O.CANCELLED)
    def mark_cancelled(self):
        pass

    @transition(state, source=[O.PAID, O.FULFILLING, O.SHIPPED, O.DELIVERED, O.COMPLETED, O.PARTIALLY_REFUNDED,
                               O.ON_HOLD, O.CANCELLED], target=O.REFUNDED)
    def mark_refunded(self):
        pass

    @transition(state, source=[O.PAID, O.FULFILLING, O.SHIPPED, O.DELIVERED, O.COMPLETED],
                target=O.PARTIALLY_REFUNDED)
    def mark_partially_refunded(self):
        pass

    @transition(state, source=[O.PENDING_PAYMENT, O.ON_HOLD], target=O.FAILED)
    def mark_failed(self):
        pass

    @transition(state, source=_LIVE, target=O.DELETED)
    def mark_deleted(self):
        pass

    # Restoring from the trash returns the order to the state its systems report.
    @transition(state, source=O.DELETED, target=RETURN_VALUE(*_LIVE))
    def restore(self, to_state):
        return to_state


ORDER_TRANSITION_BY_TARGET = {
    t.target: t.name for t in Order._meta.get_field("state").get_all_transitions(Order) if t.name != "restore"
}


class OrderSourceState(models.Model):
    """What one system last said about one order: its raw status and when it said it."""

    # No index of its own: the unique (order, system) index leads with it, and a second one was written
    # with every source state (an ERP import writes 100,000).
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="source_states", db_index=False)
    system = models.CharField(max_length=16, choices=System.choices)
    raw_status = models.CharField(max_length=64)
    observed_at = models.DateTimeField(help_text="When the system reported this status (its own clock).")
    event_ref = models.CharField(max_length=200, blank=True, help_text="The delivery, row or change that carried it.")
    received_at = models.DateTimeField(default=timezone.now)
    # The system's own total, where it differs in kind from the order's (the ERP's, the CRM's deal
    # amount); empty for the order's own system, whose total is the order's. Reconciliation compares them.
    total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "system"], name="one_source_state_per_system")]
        indexes = [
            # Reconciliation's incremental run: what arrived since the last run, and whose tolerance
            # window (counted from the leading system's observation) expired since.
            models.Index(fields=["received_at"], name="source_state_received_idx"),
            models.Index(fields=["system", "observed_at"], name="source_state_observed_idx"),
        ]

    def __str__(self):
        return f"{self.system}: {self.raw_status}"
