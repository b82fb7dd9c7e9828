"""Running the real hurricane (the binary, or the Python package: see
`support.env.LAUNCHER`): `Server`, one `hurricane serve` process that tests talk to,
and `run_hurricane`, which runs hurricane until it exits.

A Server is started with a chosen working directory and environment, its stderr
captured to a file (so tests can assert log lines), and stopped with a signal.

Each Server also gets `--probe-port <free port>` (unless its args already hold
`--probe-port` or `--no-probe`; the default, port + 1, could collide between
servers; only when the binary has the `probe` feature) and `--shutdown-delay 0`
(unless given; keeps teardown fast). An argument that is exactly "{port}" is
replaced by the app port (integrated probes: `--probe-port {port}`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from support.client import request
from support.env import STARTUP_TIMEOUT, base_env, free_port, has_feature, hurricane_command, probe_port_args, require_binary, strip_ansi
from support.poll import poll_until

STOP_TIMEOUT = 20.0
READY_RE = r"Starting HTTP server on port {port}\b"


class Exited(NamedTuple):
    """A finished run: exit code and output (ANSI colours stripped)."""

    returncode: int
    stderr: str
    stdout: str


def run_hurricane(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60, listen: bool = False) -> Exited:
    """Run `hurricane ARGS` to completion (start-up failures, bad options, --version).

    With `listen`, ARGS start with `serve`, which gets `--host 127.0.0.1`, a free
    `--port` and (with probes built in) a free `--probe-port` first. Still running
    after `timeout` seconds: killed, and the test fails with its stderr."""
    require_binary()
    if listen:
        assert args[0] == "serve", args
        args = ["serve", "--host", "127.0.0.1", "--port", str(free_port()), *probe_port_args(), *args[1:]]
    cmd = hurricane_command(args)
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env if env is not None else base_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout}s: {cmd}\n{strip_ansi(err.decode('utf-8', 'replace'))}") from None
    return Exited(proc.returncode, strip_ansi(err.decode("utf-8", "replace")), strip_ansi(out.decode("utf-8", "replace")))


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
        # The probe listener's port (None with --no-probe or without probes);
        # set by launch(). Equal to `port` in integrated mode.
        self.probe_port: int | None = None
        self._auto_probe_port: int | None = None
        # False: do not add `--probe-port` (tests of the default, port + 1).
        self.auto_probe_port = True
        # A command that runs hurricane (e.g. `unshare ... --` to make it PID 1).
        self.prefix: list[str] = []
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
        if not _has_flag(args, "--shutdown-delay"):
            extra += ["--shutdown-delay", "0"]
        return [*self.prefix, *hurricane_command(["serve", *self.host_args, *port_args, *extra, *args])]

    def _pick_ports(self) -> int:
        # With the default probe port (--port + 1), that one must be free too.
        port = free_port(consecutive=1 if self.auto_probe_port else 2)
        self.port = port
        args = self._resolved_args(port)
        self._auto_probe_port = None
        if _has_flag(args, "--no-probe") or not has_feature("probe"):
            self.probe_port = None
        elif _has_flag(args, "--probe-port"):
            self.probe_port = int(_flag_value(args, "--probe-port"))
        elif not self.auto_probe_port:
            self.probe_port = port + 1
        else:
            probe = free_port()
            while probe == port:
                probe = free_port()
            self._auto_probe_port = self.probe_port = probe
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
        process exited first; fails the test (and kills the process) on timeout."""
        ready = re.compile(READY_RE.format(port=self.port))

        def state():
            exited = self.proc.poll() is not None  # before reading: the log is then final
            return "ready" if ready.search(self.log()) else "exited" if exited else None

        try:
            return poll_until(
                state,
                timeout,
                what=f"{self.name} to log 'Starting HTTP server on port {self.port}'",
                context=lambda: f"command: {self.command(self.port)}\nstderr:\n{self.log()}",
            ) == "ready"
        except AssertionError:
            self.kill()
            raise

    def start(self, timeout: float = STARTUP_TIMEOUT, ready: Callable[["Server", float], bool] | None = None) -> "Server":
        """launch() and wait until `ready(self, timeout)` (default: wait_ready) says
        it serves; a process that exits first because its port was taken meanwhile
        is started again on other ports."""
        ready = ready or Server.wait_ready
        last_err = ""
        for _ in range(3):
            self.launch()
            if ready(self, timeout):
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
        """One request to the probe port on a fresh connection; a client.Response."""
        assert self.probe_port is not None, f"server {self.name} has no probe port"
        return request(self.probe_port, method, path, headers=headers, body=body, timeout=timeout)

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
        return poll_until(
            lambda: rx.search(self.log_since(since)),
            timeout,
            what=f"{pattern!r} in {self.name} stderr",
            context=lambda: f"new stderr:\n{self.log_since(since)[-4000:]}",
        )


def stop_all(servers: list[Server]) -> list[str]:
    """Teardown: SIGTERM to every server still running; returns what went wrong (an
    exit code other than 0, no exit in time), one message per server."""
    problems = []
    for server in servers:
        try:
            rc = server.stop()
            if rc != 0:
                problems.append(f"{server.name}: exit code {rc} after SIGTERM\n{server.tail(30)}")
        except AssertionError as exc:
            problems.append(str(exc))
    return problems


def stop_all_and_reap(servers: list[Server]) -> None:
    """Teardown of servers that may have children (an --autoreload supervisor's):
    SIGTERM to each, then SIGKILL to each process group whatever happened, and the
    test fails if a server did not exit cleanly."""
    try:
        problems = stop_all(servers)
    finally:
        for server in servers:
            if server.proc is not None:
                try:
                    os.killpg(server.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    assert not problems, "\n\n".join(problems)
