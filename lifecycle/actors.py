"""Who caused a change: a user, a task, a webhook delivery, an import, or the system itself.

Every service takes an `actor`; handoffs and timeline events store it, so "who did this?" always
has an answer. Only users carry permissions: system actors act by rule, and the services decide
which moves a rule may make (a backward stage move, for one, always needs a manager).
"""

from dataclasses import dataclass
from typing import Any


class ActorKind:
    USER = "user"
    TASK = "task"
    WEBHOOK = "webhook"
    IMPORT = "import"
    SYSTEM = "system"

    choices = [
        (USER, "User"),
        (TASK, "Task"),
        (WEBHOOK, "Webhook delivery"),
        (IMPORT, "Import"),
        (SYSTEM, "System"),
    ]


@dataclass(frozen=True)
class Actor:
    kind: str
    user: Any = None
    ref: str = ""

    @classmethod
    def for_user(cls, user):
        return cls(ActorKind.USER, user=user, ref=user.get_username())

    @classmethod
    def task(cls, name):
        return cls(ActorKind.TASK, ref=name)

    @classmethod
    def webhook(cls, delivery_ref):
        return cls(ActorKind.WEBHOOK, ref=str(delivery_ref))

    @classmethod
    def import_run(cls, ref):
        return cls(ActorKind.IMPORT, ref=str(ref))

    @classmethod
    def system(cls, ref="system"):
        return cls(ActorKind.SYSTEM, ref=ref)

    @property
    def is_user(self):
        return self.kind == ActorKind.USER

    def has_perm(self, perm):
        """Users need the permission; system actors act by the rules the services enforce."""
        return not self.is_user or self.user.has_perm(perm)

    def as_fields(self):
        return {"actor_kind": self.kind, "actor_user": self.user, "actor_ref": self.ref[:200]}

    def __str__(self):
        return f"{self.kind}:{self.ref}"
