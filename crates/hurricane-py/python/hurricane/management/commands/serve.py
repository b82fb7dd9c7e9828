"""``python manage.py serve``: serve this project with hurricane.

The options are hurricane's (``python manage.py serve --help``), parsed by the same
command-line parser as the ``hurricane serve`` binary, so this command does not use
Django's argument parser. Django has already loaded the settings; hurricane runs the
system checks itself (and again in its probes).
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from hurricane._launch import launch


class Command(BaseCommand):
    help = "Serve this Django project with hurricane (see `manage.py serve --help`)."
    requires_system_checks: list[str] = []

    def run_from_argv(self, argv: list[str]) -> None:
        launch([os.path.basename(argv[0]), *argv[1:]], logging_level())

    def print_help(self, prog_name: str, subcommand: str) -> None:
        launch([os.path.basename(prog_name), subcommand, "--help"])

    def handle(self, *args, **options):
        raise CommandError("serve runs from the command line (python manage.py serve), not from call_command()")


def logging_level() -> str | None:
    """The level of the ``hurricane`` logger in Django's ``LOGGING`` setting (a name such
    as "WARNING"; hurricane reads Python's level names), or ``None`` when it sets none."""
    import logging

    from django.conf import settings

    config = getattr(settings, "LOGGING", None) or {}
    level = ((config.get("loggers") or {}).get("hurricane") or {}).get("level")
    if isinstance(level, int):
        level = logging.getLevelName(level)
    return level if isinstance(level, str) else None
