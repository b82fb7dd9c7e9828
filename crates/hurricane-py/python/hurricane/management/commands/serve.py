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

# Django's level names (and numbers) as hurricane's log levels.
_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "WARN": "warn", "ERROR": "error", "CRITICAL": "error", "FATAL": "error"}
_LEVEL_NUMBERS = [(40, "error"), (30, "warn"), (20, "info"), (1, "debug")]


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
    """The level of the ``hurricane`` logger in Django's ``LOGGING`` setting, as a
    hurricane log level; ``None`` when it sets none."""
    from django.conf import settings

    logging = getattr(settings, "LOGGING", None) or {}
    logger = (logging.get("loggers") or {}).get("hurricane") or {}
    level = logger.get("level")
    if isinstance(level, int):
        return next((name for number, name in _LEVEL_NUMBERS if level >= number), "trace")
    if isinstance(level, str):
        return _LEVELS.get(level.strip().upper())
    return None
