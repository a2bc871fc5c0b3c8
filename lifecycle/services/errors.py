"""Errors the services raise: each carries a message an agent can read as it is."""

from django.core.exceptions import PermissionDenied


class ServiceError(Exception):
    """A request the domain refuses; the message says why in the user's words."""


class OwnershipChanged(ServiceError):
    """The owner changed since the caller looked: nothing was written; look again and retry."""


class InvalidOwner(ServiceError):
    pass


class NoOwningTeam(ServiceError):
    pass


class StageMoveRefused(ServiceError):
    pass


class OrderTransitionRefused(ServiceError):
    pass


class IdentityTaken(ServiceError):
    pass


__all__ = [
    "PermissionDenied",
    "ServiceError",
    "OwnershipChanged",
    "InvalidOwner",
    "NoOwningTeam",
    "StageMoveRefused",
    "OrderTransitionRefused",
    "IdentityTaken",
]
