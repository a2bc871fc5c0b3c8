import time

from django.core.management.base import BaseCommand

from lifecycle.actors import Actor
from lifecycle.services.reconcile import active_rules, reconcile


class Command(BaseCommand):
    help = ("Compare what the shop, the ERP and the CRM say about each order under the active tolerance rules: "
            "open or update each order's state_mismatch outside tolerance, resolve those whose systems agree "
            "again. Without --full: the orders changed, or whose tolerance window ended, since the last run.")

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Compare every order (the rules are re-read).")

    def handle(self, *args, full, **options):
        started = time.perf_counter()
        run = reconcile(full=full, actor=Actor.system("manage.py reconcile"))
        seconds = time.perf_counter() - started
        write = self.stdout.write
        what = "every order" if run.full else f"{run.evaluated:,} orders changed or due since the last run"
        write(self.style.SUCCESS(f"{'Full' if run.full else 'Incremental'} reconciliation of {what} "
                                 f"under {len(active_rules())} active rules: {seconds:.1f} s"))
        write(f"  {run.outside:,} outside tolerance, {run.within:,} disagreeing within their window")
        write(f"  state_mismatch: {run.opened:,} opened, {run.updated:,} updated, {run.resolved:,} resolved")
        if run.kept:
            write(self.style.WARNING(f"  {len(run.kept):,} left open: a system's status has no mapping yet"))
