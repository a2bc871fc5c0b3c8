"""Shared model pieces: the actor columns and the append-only guard."""

from django.conf import settings
from django.db import models

from lifecycle.actors import ActorKind


class AppendOnlyError(RuntimeError):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """History rows: written once, never changed or removed (their customer's deletion cascades)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


class ActorFields(models.Model):
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # Indexed only where set (actor_user_index): most rows are by the shop, the ERP, a sweep, with no
    # user, and an index of them all was one more write per event for the only query that asks (a
    # user's deletion clearing their name from what they did).
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor_ref = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True

    @staticmethod
    def actor_user_index(name):
        """The concrete model's index of actor_user, of the rows a user did."""
        return models.Index(fields=["actor_user"], condition=models.Q(actor_user__isnull=False), name=name)

    @property
    def actor_label(self):
        return f"{self.get_actor_kind_display()}: {self.actor_ref}" if self.actor_ref else self.get_actor_kind_display()
