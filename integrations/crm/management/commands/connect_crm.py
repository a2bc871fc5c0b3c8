from django.core.management.base import BaseCommand, CommandError

from integrations.crm.connections import crm_connect
from integrations.crm.models import HUBSPOT_API, CrmConnection, OutboundMessage
from lifecycle.actors import Actor
from lifecycle.services.errors import ServiceError


class Command(BaseCommand):
    help = ("Connect the CRM (HubSpot): store the token encrypted, check it and its scopes, link agents to "
            "HubSpot owners by email and read the account's lifecycle stages.")

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=CrmConnection.Kind.values)
        parser.add_argument("--token", required=True, help="The private app's access token.")
        parser.add_argument("--base-url", help=f"Default {HUBSPOT_API}; the sandbox's address to try it locally.")
        parser.add_argument("--name", default="HubSpot", help="The connection to create or update (default HubSpot).")
        parser.add_argument("--limit", type=int, choices=CrmConnection.Tier.values,
                            help="Requests per 10 seconds: 100 (Free/Starter, the default) or 190 "
                                 "(Professional/Enterprise).")
        parser.add_argument("--no-push", action="store_true",
                            help="Do not queue every customer and order for HubSpot again (a new token for an "
                                 "account that has them): only changes from now on are sent.")
        parser.add_argument("--no-check", action="store_true",
                            help="Save the connection without asking HubSpot now (a CRM not up yet, like the "
                                 "sandbox make run starts beside the console): the first delivery or pull checks it.")

    def handle(self, *args, **options):
        try:
            connection, check = crm_connect(kind=options["kind"], token=options["token"], name=options["name"],
                                            base_url=options["base_url"],
                                            settings={"requests_per_10s": options["limit"]},
                                            actor=Actor.system("connect_crm"), check=not options["no_check"],
                                            push=not options["no_push"])
        except ServiceError as error:
            raise CommandError(str(error)) from None
        where = f"{connection.name} ({connection.base_url})"
        waiting = OutboundMessage.objects.filter(connection=connection, state=OutboundMessage.State.PENDING).count()
        self.stdout.write(f"{waiting} changes wait in the outbox for {connection.name}" + (
            "." if options["no_push"] else ": every customer with an owner (name, owner, stage) and their orders as "
                                           "deals."))
        if check is None:
            self.stdout.write(self.style.SUCCESS(
                f"Saved {where} without checking it: the first delivery or pull (within a minute of the worker "
                "and beat starting) checks the token, links agents to owners and sends what waits."))
            return
        if not check.ok:
            raise CommandError(f"{where} is saved but not working: {check.message} Fix the token or its "
                               "scopes in HubSpot's private app, then run this command again. Changes wait in the "
                               "outbox meanwhile.")
        self.stdout.write(self.style.SUCCESS(f"Connected {where}. {check.message}"))
        if check.scopes:
            self.stdout.write(f"  Scopes: {', '.join(check.scopes)}")
        for agent, email in check.linked:
            self.stdout.write(f"  {agent} → HubSpot owner {email}")
        for agent in check.unlinked:
            self.stdout.write(self.style.WARNING(
                f"  {agent} ({agent.user.email or 'no email'}): no HubSpot owner has this email; "
                "their customers' owner is not sent until one does."))
        self.stdout.write("  Lifecycle stages: " + ", ".join(f"{s.label} ({s.value})" for s in check.stages))
        for label, value in check.unknown_mappings:
            self.stdout.write(self.style.WARNING(
                f"  {label} is mapped to {value!r}, which this account has no stage for: change it in the "
                "admin's CRM stage mappings."))
