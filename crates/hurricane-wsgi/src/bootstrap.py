"""hurricane's start-up code on the Python side: loading the application, once.

Kept in Python because it only drives Python APIs (Django's set-up, system checks and
WSGI_APPLICATION resolution); the Rust side calls these functions and turns the
exceptions into one clear message with ``describe`` (and ``report``, which adds the
traceback as Python prints it). Under ``--autoreload`` it also makes the project's
cached bytecode answer to its source's hash (``check_project_bytecode_by_hash``).
While serving, it runs the probes' Django checks (``probe_checks``) and reads the stack
of a thread whose request timed out (``thread_stack``).
"""

import functools
import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import traceback

# This module's code has no file of its own: PyO3 compiles it under this name.
_OWN_FILENAME = "hurricane_bootstrap.py"


class StartupError(Exception):
    """A start-up failure whose message is complete as it is."""


# The project's directories (see ``set_project_paths``) and the Python installation's,
# which are never the project even inside one of them (a virtualenv in the project).
_project_roots = ()
_library_roots = ()


def set_project_paths(paths):
    """Tells which directories hold the project: those hurricane put on ``sys.path`` for
    it (the working directory and the --pythonpath entries). Called once at start-up,
    before ``is_project_file`` is of any use."""
    global _project_roots, _library_roots
    roots = set()
    for path in paths:
        path = os.path.abspath(os.fspath(path))
        roots.update((path, os.path.realpath(path)))
    libraries = set()
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for prefix in prefixes:
        for variant in {os.path.abspath(prefix), os.path.realpath(prefix)}:
            # A project inside the installation's prefix (/usr/src/app, with Python in
            # /usr) would otherwise have no file of its own; its standard library is
            # still left out below, and site-packages by name.
            if not any(_is_under(root, variant) for root in roots):
                libraries.add(variant)
    standard_library = os.path.dirname(os.__file__)
    libraries.update((os.path.abspath(standard_library), os.path.realpath(standard_library)))
    _project_roots = tuple(sorted(roots))
    _library_roots = tuple(sorted(libraries))
    is_project_file.cache_clear()


def _is_under(path, directory):
    """Whether ``path`` is ``directory`` or inside it (both absolute)."""
    directory = directory.rstrip(os.sep) + os.sep
    return path == directory.rstrip(os.sep) or path.startswith(directory)


@functools.lru_cache(maxsize=4096)
def is_project_file(filename):
    """Whether ``filename`` (a code object's ``co_filename``) is one of the project's own
    files: under a directory given to ``set_project_paths``, and not in the Python
    installation (``sys.prefix`` and its kin, the standard library), not in a
    site-packages or dist-packages directory, not hurricane's own code."""
    if not filename or filename.startswith("<") or filename == _OWN_FILENAME:
        return False  # frozen modules, exec'd strings, and hurricane's own code
    path = os.path.abspath(filename)
    if not any(_is_under(path, root) for root in _project_roots):
        return False
    if any(part in ("site-packages", "dist-packages") for part in path.split(os.sep)):
        return False
    return not any(_is_under(path, root) for root in _library_roots)


def setup_django(settings_module):
    """Imports ``settings_module`` and runs ``django.setup()``: the apps are ready."""
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
    except ModuleNotFoundError as error:
        if not _is_missing(error, settings_module):
            raise  # raised while the settings ran: reported as it is, with its traceback
        raise StartupError(
            f"cannot import the settings module {settings_module!r}: {error}. Check "
            "--settings or DJANGO_SETTINGS_MODULE, and that the project directory (or "
            "--pythonpath) is on the path"
        ) from error
    django.setup(set_prefix=False)


def _is_missing(error, module_name):
    """Whether ``error`` says that ``module_name`` itself (or a package it is in) does
    not exist, rather than that something it imports does not."""
    parts = module_name.split(".")
    return error.name in {".".join(parts[:n]) for n in range(1, len(parts) + 1)}


def hurricane_settings():
    """The ``HURRICANE_*`` Django settings as ``(name, kind, value)``: kind "flag" with a
    bool, "text" with a str, or "list" with a list of str."""
    from django.conf import settings

    found = []
    for name in dir(settings):
        if not name.startswith("HURRICANE_") or name == "HURRICANE_VERSION":
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, bool):
            found.append((name, "flag", value))
        elif isinstance(value, (int, float, str)):
            found.append((name, "text", str(value)))
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            found.append((name, "list", list(value)))
        else:
            raise StartupError(
                f"Django setting {name} = {value!r}: use a bool, a number, a string "
                "or a list of strings"
            )
    return found


def defined_settings(names):
    """Those of ``names`` that the Django settings define, whatever their value."""
    from django.conf import settings

    return [name for name in names if hasattr(settings, name)]


def version_setting():
    """The ``HURRICANE_VERSION`` setting (sent in webhooks), or None."""
    from django.conf import settings

    version = getattr(settings, "HURRICANE_VERSION", None)
    return None if version is None else str(version)


def file_settings():
    """Where the project keeps static and media files, for --static and --media, as a
    tuple: STATIC_URL's and MEDIA_URL's paths ("" when unset), STATIC_ROOT and MEDIA_ROOT
    as absolute paths (None when unset), the static files manifest's path, DEBUG, and,
    when DEBUG is on and django.contrib.staticfiles is installed, the staticfiles
    finders' directories as ``(prefix, directory)`` in search order with the names of
    finders whose files cannot be listed that way (else None, None)."""
    from urllib.parse import urlsplit

    from django.apps import apps
    from django.conf import settings

    def url_path(url):
        return urlsplit(str(url or "")).path

    def directory(path):
        return os.path.abspath(os.fspath(path)) if path else None

    static_root = directory(getattr(settings, "STATIC_ROOT", None))
    manifest = None
    if static_root:
        from django.contrib.staticfiles.storage import staticfiles_storage

        name = getattr(staticfiles_storage, "manifest_name", None) or "staticfiles.json"
        manifest = os.path.join(static_root, name)
    finder_dirs = unlisted = None
    if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
        finder_dirs, unlisted = _finder_directories()
    return (
        url_path(getattr(settings, "STATIC_URL", None)),
        static_root,
        url_path(getattr(settings, "MEDIA_URL", None)),
        directory(getattr(settings, "MEDIA_ROOT", None)),
        manifest,
        bool(settings.DEBUG),
        finder_dirs,
        unlisted,
    )


def _finder_directories():
    """The directories the staticfiles finders search, as runserver would: each finder's
    file system storages (FileSystemFinder's with their STATICFILES_DIRS prefix, then
    AppDirectoriesFinder's ``<app>/static``), in STATICFILES_FINDERS order."""
    from django.contrib.staticfiles import finders
    from django.core.files.storage import FileSystemStorage

    found, unlisted = [], []
    for finder in finders.get_finders():
        storages = getattr(finder, "storages", None)
        if not isinstance(storages, dict):
            storage = getattr(finder, "storage", None)
            storages = {None: storage} if storage is not None else {}
        listed = False
        for storage in storages.values():
            if isinstance(storage, FileSystemStorage) and os.path.isdir(storage.location):
                found.append((getattr(storage, "prefix", None) or "", storage.location))
                listed = True
        if not listed and not isinstance(
            finder, (finders.FileSystemFinder, finders.AppDirectoriesFinder)
        ):
            unlisted.append(f"{type(finder).__module__}.{type(finder).__qualname__}")
    return found, unlisted


def start_debugger(port):
    """debugpy listening on 0.0.0.0:port, for VS Code and other DAP clients. Returns a
    warning (str) instead of failing: a debugger is a convenience, not a reason to stop."""
    try:
        import debugpy
    except ImportError:
        return "debugpy is not installed in this Python environment; pip install debugpy to use --debugger"
    try:
        # The adapter runs in this process: a separate adapter process would be started
        # with sys.executable and outlive the server when it is killed.
        debugpy.listen(("0.0.0.0", port), in_process_debug_adapter=True)
    except Exception as error:  # noqa: BLE001 - reported as a warning
        return f"debugpy could not listen on port {port}: {error}"
    return None


def connect_pycharm(host, port):
    """pydevd-pycharm connecting to a PyCharm debug server. Returns a warning or None."""
    try:
        import pydevd_pycharm
    except ImportError:
        return "pydevd-pycharm is not installed in this Python environment; pip install pydevd-pycharm to use --pycharm-host"
    try:
        pydevd_pycharm.settrace(host, port=port, stdoutToServer=True, stderrToServer=True, suspend=False)
    except BaseException as error:  # noqa: BLE001 - pydevd raises SystemExit on refusal
        return f"Could not connect to debug server at {host}:{port}: {error!r}"
    return None


def run_system_checks():
    """As manage.py does before runserver: prints Django's report, and raises
    SystemCheckError (with the report as its message) on errors."""
    from django.core.management.base import BaseCommand

    BaseCommand().check(display_num_errors=True)


def wsgi_application():
    from django.core.servers.basehttp import get_internal_wsgi_application

    return get_internal_wsgi_application()


def run_command(argv):
    """``manage.py <argv>``, in this process."""
    from django.core.management import call_command

    call_command(*argv)


def pending_migrations():
    """Unapplied migrations on every database, as ``alias: app.name`` strings."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    pending = []
    for alias in connections:
        connection = connections[alias]
        connection.prepare_database()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        pending.extend(f"{alias}: {migration.app_label}.{migration.name}" for migration, _ in plan)
    return pending


def apply_migrations():
    """``migrate --noinput`` on every database."""
    from django.core.management import call_command
    from django.db import connections

    for alias in connections:
        call_command("migrate", database=alias, interactive=False)


def is_database_error(error):
    """Whether ``error`` is one of Django's database errors (an unreachable database)."""
    try:
        from django.db import Error
    except ImportError:
        return False
    return isinstance(error, Error)


def thread_stack(ident):
    """The stack of the thread ``ident`` (its ``threading.get_ident()``), as
    ``traceback.format_stack`` prints it (oldest call first), or None if that thread runs
    no Python code. For a request past ``--timeout``: the view's file, line and
    function are where its thread is now."""
    frame = sys._current_frames().get(ident)
    if frame is None:
        return None
    return "".join(traceback.format_stack(frame)).rstrip("\n")


def probe_checks(tag):
    """The Python side of the liveness or readiness probe (``tag``): Django's checks
    registered with that tag (deployment checks included), then ``SELECT 1`` on every
    database. Returns ``(name, body, reason)`` per check; ``body`` is None when it passed,
    else the probe's response body (django-hurricane's wording)."""
    import io

    from django.conf import settings
    from django.core.management.base import BaseCommand, SystemCheckError

    debug = bool(getattr(settings, "DEBUG", False))
    results = []
    name = f"{tag}-checks"
    # no_color: the report may become a response body; quiet streams: warnings are not
    # printed on every probe.
    command = BaseCommand(stdout=io.StringIO(), stderr=io.StringIO(), no_color=True)
    try:
        command.check(tags=[tag], include_deployment_checks=True)
        results.append((name, None, ""))
    except SystemCheckError as error:
        report = str(error)
        body = f"django check error: {report}" if debug else "check error"
        results.append((name, body, _first_issue(report)))
    except Exception as error:  # noqa: BLE001 - a broken check is a failed check
        if is_database_error(error):
            results.append((name, _database_body(error, debug), f"{type(error).__name__}: {error}"))
        else:
            body = f"django check error: {error}" if debug else "check error"
            results.append((name, body, f"{type(error).__name__}: {error}{_location(error)}"))
    results.append(_ping_databases(debug))
    return results


def _ping_databases(debug):
    from django.db import connections

    for alias in connections:
        error = _ping(connections[alias])
        if error is not None:
            return ("database", _database_body(error, debug), f"{alias}: {type(error).__name__}: {error}")
    return ("database", None, "")


def _ping(connection):
    """``SELECT 1`` on ``connection``; the error, or None. A connection that broke since
    the last probe (the database restarted, an idle timeout) gets one fresh retry."""
    from django.db import Error

    # The probes' connection stays open from one run to the next, whatever CONN_MAX_AGE
    # says: the checks run every second, and each reconnection would cost the database a
    # login and the checks several more waits for the GIL.
    for attempt in (1, 2):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            return None
        except Error as error:
            try:
                connection.close()
            except Error:
                pass
            if attempt == 2:
                return error
    return None


def _database_body(error, debug):
    return f"django database error: {error}" if debug else "database error"


def _first_issue(report):
    """The first reported issue of a SystemCheckError's report, e.g. ``?: (x.E001) broken``."""
    for line in report.splitlines():
        line = line.strip()
        if line and not line.endswith(":") and not line.startswith("SystemCheckError"):
            return line
    return report.strip()


def load_callable(spec):
    """Imports ``module:attribute`` (attribute defaults to ``application``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise StartupError(f"--app {spec!r} must look like 'module:callable'")
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if not _is_missing(error, module_name):
            raise  # raised while the module ran: reported as it is, with its traceback
        raise StartupError(
            f"cannot import {module_name!r} for --app: {error}. Check the module name, "
            "and that its directory (or --pythonpath) is on the path"
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
    if _is_check_report(error):
        return str(error).strip()
    if isinstance(error, SyntaxError) and error.msg:
        # str() of a SyntaxError already ends in its own "(file, line N)".
        return f"{type(error).__name__}: {error.msg}{_location(error)}"
    return f"{type(error).__name__}: {error}{_location(error)}"


def report(error):
    """``(message, traceback, is_check_report)`` for a start-up exception: ``describe``'s
    message; the traceback as Python prints it (chained exceptions included), or None
    when the message is complete without it (hurricane's own messages, Django's system
    check report); and whether it is that report."""
    if isinstance(error, StartupError):
        return describe(error), None, False
    if _is_check_report(error):
        return describe(error), None, True
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return describe(error), "".join(lines).rstrip(), False


def _is_check_report(error):
    # Not imported: it cannot have been raised (and --app may have no Django at all).
    base = sys.modules.get("django.core.management.base")
    return base is not None and isinstance(error, base.SystemCheckError)


def _location(error):
    """`` (path/to/file.py, line N)``: where the user should look. That is the innermost
    frame in the project (of ``error``, else of the exceptions it was raised from); for a
    module that Django could not import (a bad INSTALLED_APPS entry), the settings line
    naming it; else the innermost frame outside importlib and hurricane."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({_relative(error.filename)}, line {error.lineno})"
    frame = _project_frame(error)
    if frame is not None:
        return f" ({_relative(frame.filename)}, line {frame.lineno})"
    named = _settings_line_naming(error)
    if named is not None:
        return f" ({_relative(named[0])}, line {named[1]})"
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if "importlib" not in f.filename
        and f.filename != _OWN_FILENAME
        and "/django/core/management/" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({_relative(frame.filename)}, line {frame.lineno})"


def _project_frame(error):
    """The innermost project frame of ``error``'s traceback, else of the exception it was
    raised from (Django re-raises a failed import of WSGI_APPLICATION as
    ImproperlyConfigured), and so on."""
    for exception in _chain(error):
        frames = [f for f in traceback.extract_tb(exception.__traceback__) if is_project_file(f.filename)]
        if frames:
            return frames[-1]
    return None


def _settings_line_naming(error):
    """``(file, line)`` of the string naming the module that ``error`` (or an exception
    it was raised from) could not find, in the settings module, else in another loaded
    project module of its package; None if there is none."""
    for exception in _chain(error):
        if isinstance(exception, ModuleNotFoundError) and exception.name:
            for filename in _settings_files():
                line = _line_naming(filename, exception.name)
                if line is not None:
                    return filename, line
    return None


def _chain(error):
    """``error``, then the exceptions it was raised from or while handling, as Python
    prints them (``raise ... from None`` hides the one before)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        if error.__cause__ is not None or error.__suppress_context__:
            error = error.__cause__
        else:
            error = error.__context__


def _settings_files():
    """The settings module's file, then those of the project's loaded modules in the
    same package (settings split over base.py and production.py)."""
    name = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    module = sys.modules.get(name)
    if module is None:
        return []
    files = [getattr(module, "__file__", None)]
    package = name.rpartition(".")[0]
    if package:
        files += [
            getattr(other, "__file__", None)
            for other_name, other in list(sys.modules.items())
            if other_name.startswith(package + ".") and other is not module
        ]
    return [f for f in files if f and is_project_file(f)]


def _line_naming(filename, module_name):
    """The line of the first string literal in ``filename`` that is ``module_name`` or a
    dotted path inside it ("nosuchapp", "nosuchapp.apps.Config"), or None."""
    import ast
    import tokenize

    try:
        with tokenize.open(filename) as source:
            for token in tokenize.generate_tokens(source.readline):
                if token.type != tokenize.STRING:
                    continue
                try:
                    value = ast.literal_eval(token.string)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str) and (value == module_name or value.startswith(module_name + ".")):
                    return token.start[0]
    except (OSError, SyntaxError, tokenize.TokenError):
        return None
    return None


def _relative(path):
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def check_project_bytecode_by_hash():
    """Makes the project's modules use their cached bytecode (``__pycache__``) only when it
    was compiled from the source as it is now, compared by the source's hash.

    For ``--autoreload``: CPython trusts a ``.pyc`` whose recorded source mtime (in whole
    seconds) and size match, so two saves of the same size within one second leave the
    first save's bytecode looking valid (CPython issue 75953), and a reloaded server would
    run the code before the last save. Hashing the project's sources costs a read and a
    SipHash of each at import; everything outside the project (the standard library,
    site-packages) keeps CPython's own check.

    The bytecode it writes is CPython's "checked hash" kind (PEP 552), which every later
    import (``manage.py`` included) validates by hash too."""
    from importlib.machinery import (
        BYTECODE_SUFFIXES,
        EXTENSION_SUFFIXES,
        SOURCE_SUFFIXES,
        ExtensionFileLoader,
        FileFinder,
        SourcelessFileLoader,
    )

    # The loaders CPython's own FileFinder hook uses, in its order, with ours for sources.
    hook = FileFinder.path_hook(
        (ExtensionFileLoader, EXTENSION_SUFFIXES),
        (_HashCheckedSourceLoader, SOURCE_SUFFIXES),
        (SourcelessFileLoader, BYTECODE_SUFFIXES),
    )
    sys.path_hooks[:] = [
        hook if "FileFinder.path_hook" in getattr(existing, "__qualname__", "") else existing
        for existing in sys.path_hooks
    ]
    # Finders made before the swap would keep CPython's loader.
    sys.path_importer_cache.clear()


# PEP 552 flags: hash-based (bit 0), checked against the source at import (bit 1).
_CHECKED_HASH_FLAGS = (0b11).to_bytes(4, "little")


class _HashCheckedSourceLoader(importlib.machinery.SourceFileLoader):
    """CPython's source loader, but a project module's bytecode must match its source's
    hash (see ``check_project_bytecode_by_hash``)."""

    def get_code(self, fullname):
        source_path = self.get_filename(fullname)
        if not is_project_file(source_path):
            return super().get_code(fullname)
        source = self.get_data(source_path)
        digest = importlib.util.source_hash(source)
        try:
            cached = importlib.util.cache_from_source(source_path)
        except NotImplementedError:  # sys.implementation.cache_tag is None
            cached = None
        code = _bytecode_for(cached, digest) if cached else None
        if code is not None:
            return code
        code = self.source_to_code(source, source_path)
        if cached and not sys.dont_write_bytecode:
            header = importlib.util.MAGIC_NUMBER + _CHECKED_HASH_FLAGS + digest
            self.set_data(cached, header + marshal.dumps(code))
        return code


def _bytecode_for(cached, digest):
    """The code object in the ``.pyc`` at ``cached`` if it is hash-based and was compiled
    from a source with ``digest``, else None."""
    try:
        with open(cached, "rb") as file:
            data = file.read()
    except OSError:
        return None
    flags = int.from_bytes(data[4:8], "little")
    if data[:4] != importlib.util.MAGIC_NUMBER or not flags & 0b1 or data[8:16] != digest:
        return None
    try:
        return marshal.loads(memoryview(data)[16:])
    except (EOFError, TypeError, ValueError):
        return None
