from django.core.management.base import BaseCommand, CommandError

from integrations.stores import store_connect
from lifecycle.actors import Actor
from lifecycle.services.errors import ServiceError


class Command(BaseCommand):
    help = "Connect a WooCommerce store and print the webhook URL to paste into WooCommerce."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--url", required=True, help="The shop's address, e.g. https://shop.example.com")
        parser.add_argument("--consumer-key", required=True)
        parser.add_argument("--consumer-secret", required=True)
        parser.add_argument("--webhook-secret", required=True)
        parser.add_argument("--slug", help="Defaults to the name, slugified.")
        parser.add_argument("--query-string-auth", action="store_true",
                            help="For hosts that strip the Authorization header.")
        parser.add_argument("--console-url", default="http://127.0.0.1:8000",
                            help="This console's public address, for the printed webhook URL.")

    def handle(self, *args, **options):
        try:
            store = store_connect(
                name=options["name"], slug=options["slug"], base_url=options["url"],
                consumer_key=options["consumer_key"], consumer_secret=options["consumer_secret"],
                webhook_secret=options["webhook_secret"], query_string_auth=options["query_string_auth"],
                actor=Actor.system("connect_store"),
            )
        except ServiceError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Connected {store.name} ({store.slug})."))
        self.stdout.write("In WooCommerce → Settings → Advanced → Webhooks, add one webhook per topic "
                          "(order.created, order.updated, order.deleted, order.restored, customer.*) with:")
        self.stdout.write(f"  Delivery URL: {options['console_url'].rstrip('/')}{store.webhook_path()}")
        self.stdout.write("  Secret:       the webhook secret you passed here")
