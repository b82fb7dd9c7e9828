"""hurricane's start-up code on the Python side: loading the application, once.

Kept in Python because it only drives Python APIs (Django's set-up, system checks and
WSGI_APPLICATION resolution); the Rust side calls these functions and turns the
exceptions into one clear message with ``describe``.
"""

import importlib
import os
import sys
import traceback


class StartupError(Exception):
    """A start-up failure whose message is complete as it is."""


def load_django(settings_module, run_checks):
    """Sets Django up with ``settings_module`` and returns the project's WSGI callable."""
    if not all(part.isidentifier() for part in settings_module.split(".")):
        raise StartupError(
            f"{settings_module!r} is not a Python module name: --settings and "
            "DJANGO_SETTINGS_MODULE take a dotted module path such as 'mysite.settings'"
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    try:
        import django
    except ImportError as error:
        raise StartupError(
            f"Django is not installed in this Python environment ({sys.prefix}): "
            "activate the project's virtualenv (or set VIRTUAL_ENV) and pip install django"
        ) from error
    try:
        importlib.import_module(settings_module)
    except ImportError as error:
        raise StartupError(
            f"cannot import the settings module {settings_module!r}: {error}"
            f"{_location(error)}. Check --settings or DJANGO_SETTINGS_MODULE, and that the "
            "project directory (or --pythonpath) is on the path"
        ) from error
    django.setup(set_prefix=False)
    if run_checks:
        from django.core.management.base import BaseCommand

        # As manage.py does before runserver: prints Django's report, and raises
        # SystemCheckError (with the report as its message) on errors.
        BaseCommand().check(display_num_errors=True)
    from django.core.servers.basehttp import get_internal_wsgi_application

    return get_internal_wsgi_application()


def load_callable(spec):
    """Imports ``module:attribute`` (attribute defaults to ``application``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise StartupError(f"--app {spec!r} must look like 'module:callable'")
    try:
        target = importlib.import_module(module_name)
    except ImportError as error:
        raise StartupError(
            f"cannot import {module_name!r} for --app: {error}{_location(error)}"
        ) from error
    for part in (attribute or "application").split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise StartupError(
                f"--app {spec!r}: module {module_name!r} has no attribute {part!r}"
            ) from None
    if not callable(target):
        raise StartupError(f"--app {spec!r} is not callable")
    return target


def describe(error):
    """One message for a start-up exception, naming the problem and where it happened."""
    if isinstance(error, StartupError):
        return str(error)
    try:
        from django.core.management.base import SystemCheckError

        if isinstance(error, SystemCheckError):
            return str(error).strip()
    except ImportError:
        pass
    return f"{type(error).__name__}: {error}{_location(error)}"


def _location(error):
    """`` (path/to/file.py, line N)`` of the innermost frame, if any."""
    # Point at the user's file: not at importlib, not at this module.
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if "importlib" not in f.filename and not f.filename.endswith("hurricane_bootstrap.py")
    ]
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({_relative(error.filename)}, line {error.lineno})"
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({_relative(frame.filename)}, line {frame.lineno})"


def _relative(path):
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
