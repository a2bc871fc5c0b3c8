import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integrations.erp.importing import erp_import
from integrations.erp.models import ErpImport
from integrations.erp.profiles import PROFILES
from lifecycle.actors import Actor

BAR_WIDTH = 30  # characters: fits an 80-column terminal beside the counters
FIRST_ERRORS = 10  # row errors printed; the batch keeps them all
PRINT_EVERY = 5_000  # lines between progress lines on a terminal


class Command(BaseCommand):
    help = ("Import an ERP sales-order export (CSV from ERPNext, Odoo or the generic profile): every row sets "
            "the ERP's status on the shop order it names. A file with invalid rows is rejected whole unless "
            "--skip-invalid; --dry-run only previews. Importing the same file again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV export.")
        parser.add_argument("--profile", choices=sorted(PROFILES), help="The export's profile; default: detected "
                                                                        "from its header row.")
        parser.add_argument("--dry-run", action="store_true", help="Read and count, apply nothing (a preview).")
        parser.add_argument("--skip-invalid", action="store_true",
                            help="Apply the valid rows of a file with invalid ones (they stay listed on the import).")

    def handle(self, *args, file, profile, dry_run, skip_invalid, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        progress = Progress(self.stdout)
        started = time.perf_counter()
        with path.open("rb") as stream:
            batch = erp_import(stream, filename=path.name, actor=Actor.system("manage.py import_erp"),
                               profile=profile, dry_run=dry_run, skip_invalid=skip_invalid, progress=progress)
        progress.finish()
        self._summary(batch, progress, time.perf_counter() - started)
        if batch.state == ErpImport.State.REJECTED:
            raise CommandError(f"ERP import #{batch.pk} rejected: nothing was imported.")

    def _summary(self, batch, progress, seconds):
        write, S = self.stdout.write, ErpImport.State
        if batch.profile and not progress.told:
            progress.tell_profile(batch)
        style = {S.APPLIED: self.style.SUCCESS, S.PREVIEWED: self.style.SUCCESS}.get(batch.state, self.style.ERROR)
        write(style(f"ERP import #{batch.pk} of {batch.filename}: {batch.get_state_display().lower()} "
                    f"in {seconds:.1f} s"))
        if batch.store_id:
            write(f"  store: {batch.store.name} ({batch.store.slug}), whose order numbers the rows name")
        write(f"  {batch.new:,} new, {batch.updated:,} updated, {batch.unchanged:,} unchanged, "
              f"{batch.invalid:,} invalid, {batch.orphans:,} orphans ({batch.lines_read:,} lines, "
              f"{batch.orders_read:,} orders)")
        if batch.message:
            write(f"  {batch.message}")
        errors = list(batch.errors.order_by("line", "id")[:FIRST_ERRORS])
        if errors:
            total = batch.errors.count()
            write(f"  row errors ({'the first ' + str(len(errors)) + ' of ' if total > len(errors) else ''}"
                  f"{total:,}):")
            for error in errors:
                where = f"line {error.line}" + (f", {error.column}" if error.column else "")
                value = f" = “{error.value}”" if error.value else ""
                write(f"    {where}{value}: {error.message}")


class Progress:
    """Which profile was chosen (as soon as it is), then `reading: 15,000 lines` and `applying 15,000/100,001
    [###....]`, redrawn in place on a terminal every few thousand lines; nothing but the profile elsewhere."""

    def __init__(self, out):
        self.out, self.tty, self.drawn, self.told, self.next = out, out.isatty(), False, False, PRINT_EVERY

    def tell_profile(self, batch):
        self.out.write(f"Profile: {batch.get_profile_display()}. {batch.profile_reason}")
        self.told = True

    def __call__(self, batch, phase, line):
        if not self.told:
            self.finish()
            self.tell_profile(batch)
        if not self.tty or line < self.next:
            return
        self.next = line + PRINT_EVERY
        if phase == "applying" and batch.lines_read:
            filled = round(BAR_WIDTH * min(line / batch.lines_read, 1))
            text = f"applying {line:,}/{batch.lines_read:,} lines [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
        else:
            text = f"reading: {line:,} lines"
        self.out.write("\r" + text.ljust(70), ending="")
        self.out.flush()
        self.drawn = True

    def finish(self):
        if self.drawn:
            self.out.write("")
            self.drawn = False
