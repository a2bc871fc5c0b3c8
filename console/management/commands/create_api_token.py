"""Create (or show, or rotate) the API token of a user: `manage.py create_api_token USERNAME [--rotate]`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of USERNAME, creating it when the user has none. A rerun prints the same "
        "token (scripts can call it safely); --rotate replaces it, and the old one stops working at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the user's token with a new one.")

    def handle(self, *args, username, rotate, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            # TokenAuthentication refuses inactive users: a token would be useless, and misleading.
            raise CommandError(f"User {username!r} is inactive: activate it first.")
        with transaction.atomic():
            if rotate:
                Token.objects.filter(user=user).delete()
            token, created = Token.objects.get_or_create(user=user)
        if created or rotate:
            self.stderr.write(f"{'Rotated' if rotate else 'Created'} the API token of {username}.")
        self.stdout.write(token.key)
