from django.core.management.base import BaseCommand, CommandError

from integrations.crm.models import CrmConnection
from integrations.crm.webhooks import webhook_path, webhook_secret_set
from lifecycle.actors import Actor
from lifecycle.services.errors import ServiceError


class Command(BaseCommand):
    help = ("Turn on HubSpot's webhooks for a CRM connection: store the HubSpot app's client secret "
            "(encrypted; it signs the webhooks) and print the target URL to enter in the app's webhook settings.")

    def add_arguments(self, parser):
        parser.add_argument("--secret", required=True, help="The HubSpot app's client secret.")
        parser.add_argument("--name", default="HubSpot", help="The connection (default HubSpot).")
        parser.add_argument("--base-url", default="",
                            help="The console's public address (https://…), to print the full target URL.")

    def handle(self, *args, **options):
        connection = CrmConnection.objects.filter(name=options["name"]).first()
        if connection is None:
            raise CommandError(f"No CRM connection named {options['name']!r}: run connect_crm first.")
        try:
            webhook_secret_set(connection=connection, secret=options["secret"], actor=Actor.system("crm_webhook"))
        except ServiceError as error:
            raise CommandError(str(error)) from None
        url = f"{options['base_url'].rstrip('/')}{webhook_path(connection)}"
        self.stdout.write(self.style.SUCCESS(f"Webhooks of {connection.name} are verified with the secret now."))
        self.stdout.write(f"  Target URL in HubSpot: {url}")
        self.stdout.write("  Subscribe to contact.propertyChange (hubspot_owner_id, lifecyclestage) and "
                          "deal.propertyChange (dealstage); the pulls read the rest every minute.")
