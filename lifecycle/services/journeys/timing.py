"""When a step is on time, and when it is missed: one rule for the follower, the sweep and the start.

A step is on time when what completes it happens by its due time plus ON_TIME_GRACE, and it is
missed once that moment has passed. The grace is there for steps due "at payment": the shop's
confirmation, or the payment itself, reaches the console a little after the moment it happened.
"""

from datetime import timedelta

ON_TIME_GRACE = timedelta(hours=1)


def is_late(at, due_at):
    return at > due_at + ON_TIME_GRACE


def missed_if_due_before(now):
    """Pending steps due before this moment are missed at `now`."""
    return now - ON_TIME_GRACE
