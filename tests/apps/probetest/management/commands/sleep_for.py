"""`sleep_for SECONDS`: a long start-up command (probes must say "starting")."""

import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Sleep for SECONDS seconds."

    def add_arguments(self, parser):
        parser.add_argument("seconds", type=float)

    def handle(self, *args, seconds, **options):
        self.stdout.write(f"sleep_for: sleeping {seconds}s")
        time.sleep(seconds)
        self.stdout.write("sleep_for: done")
