"""When a system's reported state agrees with the order's canonical state (lifecycle.statuses.agrees),
as the customer screen and the domain both read it."""

import pytest

from lifecycle import statuses as s


@pytest.mark.parametrize("reported, canonical", [
    (s.SHIPPED, s.SHIPPED),
    (s.PAID, s.FULFILLING), (s.PAID, s.SHIPPED), (s.PAID, s.DELIVERED),  # the shop says processing meanwhile
    (s.COMPLETED, s.PARTIALLY_REFUNDED), (s.PAID, s.PARTIALLY_REFUNDED),
])
def test_agreeing(reported, canonical):
    assert s.agrees(reported, canonical)


@pytest.mark.parametrize("reported, canonical", [
    (s.PENDING_PAYMENT, s.SHIPPED), (s.PAID, s.COMPLETED), (s.SHIPPED, s.PAID), (s.CANCELLED, s.PAID),
    (s.PAID, s.REFUNDED), (s.REFUNDED, s.PARTIALLY_REFUNDED),
])
def test_disagreeing(reported, canonical):
    assert not s.agrees(reported, canonical)
