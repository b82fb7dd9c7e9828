"""A port in use is reported before Python starts, naming the option that chose the
port: `--port`, or `--probe-port` (which defaults to --port + 1)."""

from __future__ import annotations

import socket

import pytest

from support.env import PANIC_WORDS, free_port, requires
from support.server import run_hurricane

pytestmark = requires("probe")


@pytest.fixture
def taken():
    """taken(port): something else listens on 127.0.0.1:port for the rest of the test."""
    sockets = []

    def _take(port: int) -> int:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        sockets.append(sock)
        return port

    yield _take
    for sock in sockets:
        sock.close()


def serve_failing(args, cwd) -> str:
    proc = run_hurricane(["serve", "--host", "127.0.0.1", *args], cwd)
    err = proc.stderr
    assert proc.returncode == 1, f"exit status {proc.returncode}\n{err}"
    assert "Python started" not in err, f"the clash was found only after Python started:\n{err}"
    assert not any(word in err for word in PANIC_WORDS), err
    errors = [line for line in err.splitlines() if line.startswith("hurricane: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_app_port_in_use_names_port(taken, mysite):
    port = taken(free_port())
    error = serve_failing(["--port", str(port), "--probe-port", str(free_port())], mysite)
    assert f"cannot listen on 127.0.0.1:{port} (--port {port})" in error, error


def test_both_ports_in_use_names_the_app_port(taken, mysite):
    port = free_port(consecutive=2)
    taken(port)
    taken(port + 1)
    error = serve_failing(["--port", str(port)], mysite)
    assert f"(--port {port})" in error, error
    assert "probe" not in error, error


def test_default_probe_port_in_use_suggests_probe_port_or_no_probe(taken, mysite):
    port = free_port(consecutive=2)
    taken(port + 1)
    error = serve_failing(["--port", str(port)], mysite)
    assert f"cannot listen on 127.0.0.1:{port + 1} for the probes (--probe-port (port + 1) {port + 1})" in error, error
    assert "--probe-port" in error.split(")", 2)[-1] and "--no-probe" in error, error


def test_probe_port_in_use_names_probe_port(taken, mysite):
    probe = taken(free_port())
    error = serve_failing(["--port", str(free_port()), "--probe-port", str(probe)], mysite)
    assert f"(--probe-port {probe})" in error, error
