"""Re-encrypt every stored secret under the current AFTERCARE_ENCRYPTION_KEY.

A rotation without downtime:
1. Deploy with AFTERCARE_ENCRYPTION_KEY=<new key> and AFTERCARE_PREVIOUS_ENCRYPTION_KEYS=<old key>:
   every process reads secrets under either key and writes new ones under the new key.
2. python manage.py rotate_encryption_key: what is stored under the old key is re-encrypted.
3. Deploy without AFTERCARE_PREVIOUS_ENCRYPTION_KEYS.

An install that ran without AFTERCARE_ENCRYPTION_KEY encrypted its secrets with a key derived from
SECRET_KEY: `--derived-key` prints it, to name as the previous key in step 1 (before SECRET_KEY
changes). Every encrypted column of every model is covered (integrations.crypto.encrypted_fields):
stores' keys and webhook secrets, CRM tokens, CRM webhook secrets, and any added later. A rerun
changes nothing that is already under the current key.
"""

from argparse import RawDescriptionHelpFormatter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import models, transaction

from integrations import crypto


class Command(BaseCommand):
    help = __doc__

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The steps of a rotation are the help: kept as written, not reflowed into one paragraph.
        return super().create_parser(prog_name, subcommand, formatter_class=_Formatter, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be re-encrypted; write nothing.")
        parser.add_argument("--derived-key", action="store_true",
                            help="Print the key derived from the current SECRET_KEY (what an install without "
                                 "AFTERCARE_ENCRYPTION_KEY used) and stop: name it as the previous key.")

    def handle(self, *args, dry_run=False, derived_key=False, **options):
        if derived_key:
            self.stdout.write(crypto.derived_key(settings.SECRET_KEY))
            return
        unreadable = []
        with transaction.atomic():
            for model, field in crypto.encrypted_fields():
                unreadable += self._rotate(model, field, dry_run)
        for line in unreadable:
            self.stderr.write(line)
        if unreadable:
            raise CommandError(f"{len(unreadable)} stored secret(s) could not be read with the current or previous "
                               "keys and were left as they are: enter them again (admin or connect command), or "
                               "name the key they were encrypted with in AFTERCARE_PREVIOUS_ENCRYPTION_KEYS.")
        self.stdout.write(self.style.SUCCESS("Nothing was written (dry run)." if dry_run else
                                             "Every stored secret is encrypted under the current key."))

    def _rotate(self, model, field, dry_run):
        """Re-encrypt one column; returns a line per row no key reads."""
        rotated, current, unreadable = 0, 0, []
        for pk, token in crypto.stored_tokens(model, field, for_update=True):
            try:
                new_token = crypto.reencrypt(token)
            except ValueError as error:
                unreadable.append(f"{model._meta.label} {pk} {field.name}: {error}")
                continue
            if new_token is None:
                current += 1
                continue
            rotated += 1
            if not dry_run:  # a Value is written as it is: the field would encrypt a plain value again
                model._default_manager.filter(pk=pk).update(
                    **{field.attname: models.Value(new_token, output_field=models.TextField())})
        verb = "to re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(f"{model._meta.label}.{field.name}: {rotated} {verb}, {current} already under the current "
                          f"key, {len(unreadable)} unreadable")
        return unreadable


class _Formatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    pass
