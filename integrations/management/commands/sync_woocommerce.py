import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from integrations.models import StoreConnection, SyncRun
from integrations.woocommerce.backfill import SyncBusy, store_backfill
from integrations.woocommerce.client import wc_datetime
from lifecycle.actors import Actor

BAR_WIDTH = 30  # characters: fits an 80-column terminal beside the counters


class Command(BaseCommand):
    help = ("Read a WooCommerce store's orders over REST from its saved cursor (or --since) and apply "
            "them the way webhooks do. Safe to rerun: it resumes where the last committed page ended.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, metavar="SLUG")
        parser.add_argument("--since", metavar="ISO",
                            help="Re-read orders modified at or after this date (UTC unless it has an offset), "
                                 "e.g. 2025-06-01 or 2025-06-01T12:00:00+02:00. Moves the saved cursor.")

    def handle(self, *args, store, since, **options):
        connection = StoreConnection.objects.filter(slug=store).first()
        if connection is None:
            known = ", ".join(StoreConnection.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No store with the slug {store!r} (connected: {known}).")
        bar = ProgressBar(self.stdout)
        started = time.perf_counter()
        try:
            run = store_backfill(store=connection, since=_parse_since(since), progress=bar,
                                 actor=Actor.system("manage.py sync_woocommerce"))
        except SyncBusy as busy:
            raise CommandError(str(busy)) from None
        bar.finish()
        self._summary(connection, run, time.perf_counter() - started)
        if run.status == SyncRun.Status.FAILED:
            raise CommandError(run.error)

    def _summary(self, store, run, seconds):
        ok = run.status == SyncRun.Status.SUCCEEDED
        write = self.stdout.write
        write((self.style.SUCCESS if ok else self.style.ERROR)(
            f"Sync run {run.pk} of {store.name} {'done' if ok else 'FAILED'}: {run.orders_seen:,} orders "
            f"on {run.pages:,} pages in {seconds:.1f} s"))
        write(f"  {run.applied:,} applied, {run.stale:,} unchanged (not newer), {run.ignored:,} ignored, "
              f"{run.failed:,} unreadable")
        cursor = store.sync_cursor
        cursor.refresh_from_db()
        where = wc_datetime(cursor.modified_after) + " UTC" if cursor.modified_after else "the first order"
        write(f"  next run reads orders modified after {where}" + (f", page {cursor.page}" if cursor.page > 1 else ""))
        hooks = run.webhooks or {}
        if hooks.get("error"):
            write(self.style.WARNING(f"  webhooks not checked: {hooks['error']}"))
        elif "console" in hooks:
            disabled = hooks["disabled"]
            state = (self.style.ERROR(f"disabled: {', '.join(f'#{i}' for i in disabled)}") if disabled
                     else "all active" if hooks["console"] else self.style.WARNING("none points at this console"))
            write(f"  webhooks to this console: {len(hooks['console'])}, {state}")


class ProgressBar:
    """`page 12/199 [###.......] 1,200 orders`: redrawn in place on a terminal, a line per page otherwise."""

    def __init__(self, out):
        self.out, self.drawn = out, False
        self.tty = out.isatty()

    def __call__(self, progress):
        total = max(progress.total_pages, progress.page, 1)
        filled = round(BAR_WIDTH * progress.page / total)
        line = (f"page {progress.page:,}/{total:,} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{progress.run.orders_seen:,} orders")
        if self.tty:
            self.out.write("\r" + line, ending="")
            self.out.flush()
        else:
            self.out.write(line)
        self.drawn = True

    def finish(self):
        if self.tty and self.drawn:
            self.out.write("")


def _parse_since(value):
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO date (e.g. 2025-06-01 or 2025-06-01T12:00:00Z).") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
