"""Connecting a WooCommerce store to the console."""

from django.utils.text import slugify

from integrations.models import StoreConnection
from lifecycle.services.errors import PermissionDenied, ServiceError


def store_connect(*, name, base_url, consumer_key, consumer_secret, webhook_secret, actor, slug=None,
                  query_string_auth=False):
    if not actor.has_perm("integrations.add_storeconnection"):
        raise PermissionDenied("Only operations can connect stores.")
    slug = slugify(slug or name)[:50]
    if not slug:
        raise ServiceError("A store needs a name.")
    if not (consumer_key and consumer_secret and webhook_secret):
        raise ServiceError("A store needs its consumer key, consumer secret and webhook secret.")
    if StoreConnection.objects.filter(slug=slug).exists():
        raise ServiceError(f"A store with the slug {slug!r} is already connected.")
    return StoreConnection.objects.create(
        name=name, slug=slug, base_url=base_url.rstrip("/"), consumer_key=consumer_key,
        consumer_secret=consumer_secret, webhook_secret=webhook_secret, query_string_auth=query_string_auth,
    )
