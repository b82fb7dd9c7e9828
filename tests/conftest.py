"""Fixtures that run the real `hurricane` binary (support code: tests/support/).

Every server is a real process (support.server.Server) started with a chosen
working directory and environment, its stderr captured to a file, and stopped
with SIGTERM at teardown, where its exit code must be 0.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Make tests/ importable whatever the rootdir, so that `support` resolves.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.env import APPS, BIN, VENV, base_env, features, require_binary  # noqa: E402
from support.projects import copy_mysite  # noqa: E402
from support.server import Server, stop_all  # noqa: E402


def pytest_sessionstart(session):
    """HURRICANE_EXPECT_FEATURES="probe static ..." (as `cargo xtask ci` sets it): a
    binary without one of them fails the run at once, instead of skipping its tests."""
    expected = set(os.environ.get("HURRICANE_EXPECT_FEATURES", "").split())
    missing = sorted(expected - features())
    if missing:
        pytest.exit(f"{BIN} lacks the expected feature(s) {', '.join(missing)}: its tests would be skipped", returncode=1)


@pytest.fixture(scope="session")
def logdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hurricane-logs")


@pytest.fixture(scope="session")
def mysite(tmp_path_factory) -> Path:
    """A fresh copy of examples/mysite with a migrated SQLite database.

    A copy keeps runs deterministic (no state from earlier runs, nothing
    written into the source tree).
    """
    require_binary()
    return copy_mysite(tmp_path_factory.mktemp("project") / "mysite")


@pytest.fixture(scope="session")
def close_log(tmp_path_factory) -> Path:
    """File where the test WSGI apps record close() calls (env HURRICANE_TEST_CLOSE_LOG)."""
    path = tmp_path_factory.mktemp("close") / "close.log"
    path.write_text("")
    return path


@pytest.fixture(scope="session")
def start_server(logdir):
    """Factory: start_server(name, args, cwd, env=None) -> started Server, stopped at session end."""
    servers: list[Server] = []

    def _start(name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Server:
        server = Server(name, args, cwd, logdir, env)
        servers.append(server)
        return server.start()

    yield _start
    failures = stop_all(servers)
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def one_server(logdir):
    """Factory for servers owned by a single test (stopped and checked at its end)."""
    servers: list[Server] = []

    def _make(name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None, start: bool = True) -> Server:
        server = Server(name, args, cwd, logdir, env)
        servers.append(server)
        return server.start() if start else server

    yield _make
    for server in servers:
        if server.alive():
            server.kill()


@pytest.fixture(scope="session")
def django_server(start_server, mysite) -> Server:
    """The example project with default options."""
    return start_server("django", [], mysite)


def _app_server(start_server, tmp_path_factory, name: str, module: str, env: dict[str, str] | None = None) -> Server:
    """A tests/apps module served with --app from an empty working directory."""
    cwd = tmp_path_factory.mktemp(f"{name}-cwd")
    return start_server(name, ["--app", f"{module}:application", "--pythonpath", str(APPS)], cwd, env)


@pytest.fixture(scope="session")
def probe_server(start_server, tmp_path_factory, close_log) -> Server:
    """tests/apps/probe_app.py (wrapped in wsgiref.validate.validator) via --app."""
    return _app_server(start_server, tmp_path_factory, "probe", "probe_app", base_env(HURRICANE_TEST_CLOSE_LOG=close_log))


@pytest.fixture(scope="session")
def misbehaving_server(start_server, tmp_path_factory, close_log) -> Server:
    """tests/apps/misbehaving_app.py: apps that break the WSGI rules."""
    return _app_server(start_server, tmp_path_factory, "misbehaving", "misbehaving_app", base_env(HURRICANE_TEST_CLOSE_LOG=close_log))


@pytest.fixture(scope="session")
def echo_server(start_server, tmp_path_factory) -> Server:
    """tests/apps/echo_app.py: echoes method, target, headers and body as JSON."""
    return _app_server(start_server, tmp_path_factory, "echo", "echo_app")


def pytest_report_header(config):
    return [f"hurricane binary: {BIN} ({'present' if BIN.exists() else 'MISSING'})", f"venv: {VENV}"]
