"""`echo_args ARG...`: record the arguments it got, to check ordering and quoting.

Appends one JSON line, the list of positional arguments, to the file named by
$PROBETEST_OUT (or prints it to stdout when that is unset).
"""

import json
import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Record the arguments as one JSON line."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")

    def handle(self, *args, **options):
        line = json.dumps(list(args))
        out = os.environ.get("PROBETEST_OUT")
        if out:
            with open(out, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        else:
            self.stdout.write(line)
