"""Fixtures that run the real `hurricane` binary.

Every server is a real process: `hurricane serve --host 127.0.0.1 --port N ...`
started with a chosen working directory and environment, its stderr captured to
a file (so tests can assert log lines), and stopped with SIGTERM at teardown,
where its exit code must be 0.

Each server also gets `--probe-port <free port>` (unless its args already hold
`--probe-port` or `--no-probe`; the default, port + 1, could collide between
servers) and `--shutdown-delay 0` (unless given; keeps teardown fast), but only
when the binary knows these flags (`hurricane serve --help`, read once).
An argument that is exactly "{port}" is replaced by the app port (integrated
probes: `--probe-port {port}`).

Environment knobs:
    HURRICANE_BIN    the binary (default <repo>/target/release/hurricane)
    HURRICANE_VENV   the virtualenv with Django etc. (default <repo>/target/venv)
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
APPS = TESTS / "apps"
EXAMPLE = REPO / "examples" / "mysite"
VENV = Path(os.environ.get("HURRICANE_VENV", REPO / "target" / "venv"))
BIN = Path(os.environ.get("HURRICANE_BIN", REPO / "target" / "release" / "hurricane"))
VENV_PYTHON = VENV / "bin" / "python"

STARTUP_TIMEOUT = 30.0  # Django import + system checks on a busy 2-core machine
STOP_TIMEOUT = 20.0
READY_RE = r"Starting HTTP server on port {port}\b"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Words that must never appear when hurricane fails to start.
PANIC_WORDS = ("panicked", "RUST_BACKTRACE")


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


# Below Linux's default ephemeral range (32768-60999): a port the kernel hands to no
# client connection, so one found free stays free until a server binds it. (bind(0)
# would pick from the ephemeral range, where the suite's own client sockets, in use or
# in TIME_WAIT, can take it, or the port after it, in between.)
TEST_PORTS = range(20000, 32700)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(consecutive: int = 1) -> int:
    """A free loopback port (with `consecutive` > 1, the first of that many free ports)."""
    for _ in range(200):
        port = random.choice(TEST_PORTS)
        if all(_bindable(port + i) for i in range(consecutive)):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# HURRICANE_* variables of the caller that are not serve options; every other
# HURRICANE_* variable would configure the servers (`HURRICANE_PORT`, ...) and is dropped.
KEPT_HURRICANE_VARS = ("HURRICANE_BIN", "HURRICANE_VENV", "HURRICANE_LOG")


def base_env(venv: bool = True, path_venv: bool = True) -> dict[str, str]:
    """The environment a user would have after `source target/venv/bin/activate`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "RUST_BACKTRACE", "RUST_LOG")
        and (not k.startswith("HURRICANE_") or k in KEPT_HURRICANE_VARS)
    }
    path = env.get("PATH", "/usr/bin:/bin")
    venv_bin = str(VENV / "bin")
    path = os.pathsep.join(p for p in path.split(os.pathsep) if p != venv_bin)
    if path_venv:
        path = venv_bin + os.pathsep + path
    env["PATH"] = path
    if venv:
        env["VIRTUAL_ENV"] = str(VENV)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def require_binary():
    if not BIN.exists():
        pytest.fail(f"hurricane binary not found at {BIN} (build it with `cargo build --release -p hurricane-cli` or set HURRICANE_BIN)")
    if not VENV_PYTHON.exists():
        pytest.fail(f"virtualenv not found at {VENV} (set HURRICANE_VENV)")


_SERVE_HELP: str | None = None


def serve_help() -> str:
    """`hurricane serve --help` (read once per session)."""
    global _SERVE_HELP
    if _SERVE_HELP is None:
        require_binary()
        proc = subprocess.run([str(BIN), "serve", "--help"], env=base_env(), capture_output=True, timeout=30)
        _SERVE_HELP = strip_ansi(proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace"))
    return _SERVE_HELP


def binary_supports(flag: str) -> bool:
    """True if `hurricane serve --help` lists `flag` (e.g. "--probe-port")."""
    return re.search(re.escape(flag) + r"(?![\w-])", serve_help()) is not None


def probe_port_args() -> list[str]:
    """["--probe-port", <free port>] if the binary has probes, else []: for commands
    started without Server, whose default probe port (port + 1) could be taken."""
    return ["--probe-port", str(free_port())] if binary_supports("--probe-port") else []


def _has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _flag_value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


class Server:
    """One `hurricane serve` process."""

    def __init__(self, name: str, args: list[str], cwd: Path, logdir: Path, env: dict[str, str] | None = None):
        self.name = name
        self.args = list(args)
        self.cwd = Path(cwd)
        self.logdir = Path(logdir)
        self.env = dict(env if env is not None else base_env())
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.stderr_path: Path | None = None
        self.stdout_path: Path | None = None
        self.returncode: int | None = None
        self.host_args = ["--host", "127.0.0.1"]  # set to [] to test the default
        # Name of an environment variable that carries the port instead of `--port`
        # (e.g. "HURRICANE_PORT"); None: `--port N` on the command line.
        self.port_env: str | None = None
        # The probe listener's port (None with --no-probe or an old binary);
        # set by launch(). Equal to `port` in integrated mode.
        self.probe_port: int | None = None
        self._auto_probe_port: int | None = None
        # False: do not add `--probe-port` (tests of the default, port + 1).
        self.auto_probe_port = True
        self._attempt = 0

    # -- lifecycle -------------------------------------------------------
    def _resolved_args(self, port: int) -> list[str]:
        return [str(port) if a == "{port}" else a for a in self.args]

    def command(self, port: int) -> list[str]:
        args = self._resolved_args(port)
        port_args = [] if self.port_env else ["--port", str(port)]
        extra = []
        if self._auto_probe_port is not None:
            extra += ["--probe-port", str(self._auto_probe_port)]
        if binary_supports("--shutdown-delay") and not _has_flag(args, "--shutdown-delay"):
            extra += ["--shutdown-delay", "0"]
        return [str(BIN), "serve", *self.host_args, *port_args, *extra, *args]

    def _pick_ports(self) -> int:
        # With the default probe port (--port + 1), that one must be free too.
        port = free_port(consecutive=1 if self.auto_probe_port else 2)
        self.port = port
        args = self._resolved_args(port)
        self._auto_probe_port = None
        if _has_flag(args, "--no-probe"):
            self.probe_port = None
        elif _has_flag(args, "--probe-port"):
            self.probe_port = int(_flag_value(args, "--probe-port"))
        elif not self.auto_probe_port:
            self.probe_port = port + 1 if binary_supports("--probe-port") else None
        elif binary_supports("--probe-port"):
            probe = free_port()
            while probe == port:
                probe = free_port()
            self._auto_probe_port = self.probe_port = probe
        else:
            self.probe_port = None
        return port

    def launch(self) -> "Server":
        """Start the process without waiting for it to serve (see wait_ready)."""
        require_binary()
        port = self._pick_ports()
        attempt = self._attempt
        self._attempt += 1
        self.stderr_path = self.logdir / f"{self.name}.{attempt}.stderr.log"
        self.stdout_path = self.logdir / f"{self.name}.{attempt}.stdout.log"
        env = dict(self.env)
        if self.port_env:
            env[self.port_env] = str(port)
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.command(port),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> bool:
        """Wait for 'Starting HTTP server on port N'. True once logged; False if the
        process exited first; fails the test on timeout."""
        ready = re.compile(READY_RE.format(port=self.port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready.search(self.log()):
                return True
            if self.proc.poll() is not None:
                return bool(ready.search(self.log()))
            time.sleep(0.05)
        self.kill()
        pytest.fail(
            f"server {self.name} did not log 'Starting HTTP server on port {self.port}' within {timeout}s\n"
            f"command: {self.command(self.port)}\nstderr:\n{self.log()}"
        )

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "Server":
        last_err = ""
        for _ in range(3):
            self.launch()
            if self.wait_ready(timeout):
                return self
            last_err = self.log()
            if "in use" in last_err.lower():  # lost a race for a free port: retry
                continue
            pytest.fail(
                f"server {self.name} exited with {self.proc.returncode} before serving\n"
                f"command: {self.command(self.port)}\nstderr:\n{last_err}"
            )
        pytest.fail(f"server {self.name} could not bind a free port:\n{last_err}")

    # -- probes ------------------------------------------------------------
    def probe(self, path: str, method: str = "GET", headers=None, body: bytes = b"", timeout: float = 10.0):
        """One request to the probe port; returns a helpers.Response (status, headers, body)."""
        assert self.probe_port is not None, f"server {self.name} has no probe port"
        return probe_request(self.probe_port, path, method, headers, body, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `sig` and wait for exit; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"server {self.name} did not exit within {timeout}s of signal {sig}\n{self.tail()}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- logs --------------------------------------------------------------
    def log(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return strip_ansi(self.stderr_path.read_bytes().decode("utf-8", "replace"))

    def mark(self) -> int:
        """Position in the log; pass to log_since/wait_log to look only at newer lines."""
        return len(self.log())

    def log_since(self, mark: int) -> str:
        return self.log()[mark:]

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def wait_log(self, pattern: str, since: int = 0, timeout: float = 5.0) -> re.Match:
        """Wait until `pattern` (a regex) appears in the log after `since`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_since(since))
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"pattern {pattern!r} not in {self.name} stderr after {timeout}s; new stderr:\n{self.log_since(since)[-4000:]}"
                )
            time.sleep(0.05)


def run_hurricane(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the binary to completion (startup-failure tests)."""
    require_binary()
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=env if env is not None else base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


def probe_request(port: int, path: str, method: str = "GET", headers=None, body: bytes = b"", timeout: float = 10.0):
    """GET/HEAD/POST/... `path` on a probe port (fresh connection); a helpers.Response."""
    from helpers import request

    return request(port, method, path, headers=headers, body=body, timeout=timeout)


def stop_and_check(server: Server):
    """Teardown: SIGTERM must make the server exit 0."""
    rc = server.stop()
    assert rc == 0, f"server {server.name} exited with {rc} after SIGTERM\n{server.tail()}"


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


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
    dest = tmp_path_factory.mktemp("project") / "mysite"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__", "*.pyc"))
    proc = subprocess.run(
        [str(VENV_PYTHON), "manage.py", "migrate", "--noinput"],
        cwd=dest,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"manage.py migrate failed:\n{proc.stdout}\n{proc.stderr}"
    return dest


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
    failures = []
    for server in servers:
        try:
            rc = server.stop()
            if rc != 0:
                failures.append(f"{server.name}: exit code {rc} after SIGTERM\n{server.tail(30)}")
        except AssertionError as exc:
            failures.append(str(exc))
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


def _recording_app_server(start_server, tmp_path_factory, close_log, name: str, module: str) -> Server:
    """A tests/apps module served with --app, recording close() calls in `close_log`."""
    cwd = tmp_path_factory.mktemp(f"{name}-cwd")
    env = base_env()
    env["HURRICANE_TEST_CLOSE_LOG"] = str(close_log)
    return start_server(name, ["--app", f"{module}:application", "--pythonpath", str(APPS)], cwd, env)


@pytest.fixture(scope="session")
def probe_server(start_server, tmp_path_factory, close_log) -> Server:
    """tests/apps/probe_app.py (wrapped in wsgiref.validate.validator) via --app."""
    return _recording_app_server(start_server, tmp_path_factory, close_log, "probe", "probe_app")


@pytest.fixture(scope="session")
def misbehaving_server(start_server, tmp_path_factory, close_log) -> Server:
    """tests/apps/misbehaving_app.py: apps that break the WSGI rules."""
    return _recording_app_server(start_server, tmp_path_factory, close_log, "misbehaving", "misbehaving_app")


@pytest.fixture(scope="session")
def echo_server(start_server, tmp_path_factory) -> Server:
    """tests/apps/echo_app.py: echoes method, target, headers and body as JSON."""
    cwd = tmp_path_factory.mktemp("echo-cwd")
    return start_server("echo", ["--app", "echo_app:application", "--pythonpath", str(APPS)], cwd)


def pytest_report_header(config):
    return [f"hurricane binary: {BIN} ({'present' if BIN.exists() else 'MISSING'})", f"venv: {VENV}"]


# Make tests/ importable as plain modules (helpers, corpora) whatever the rootdir.
sys.path.insert(0, str(TESTS))
