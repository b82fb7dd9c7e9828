"""`fail_always [--runtime]`: a start-up command that fails.

Raises CommandError("probetest failure requested"), or with --runtime a plain
RuntimeError("probetest crash requested") (an exception, not a CommandError).
"""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Always fail."

    def add_arguments(self, parser):
        parser.add_argument("--runtime", action="store_true")

    def handle(self, *args, runtime=False, **options):
        if runtime:
            raise RuntimeError("probetest crash requested")
        raise CommandError("probetest failure requested")
