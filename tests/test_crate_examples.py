"""The library crates' examples (`cargo run -p <crate> --example <name>`) serve what
their docs say: hurricane-core's `hello` a plain Rust handler, hurricane-static's
`files` a directory in front of one, hurricane-probe's `probes` the probes on their own,
hurricane-supervisor's `pod` two processes behind one supervisor.

They are the binaries `cargo build --examples --workspace` leaves in
target/debug/examples (`cargo xtask ci` builds them before this suite)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from support.client import request
from support.env import REPO
from support.poll import poll_until

EXAMPLES = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "examples"


@pytest.fixture
def example():
    """example(name, *args): the example running on a free loopback port; its port."""
    running: list[subprocess.Popen] = []

    def _start(name: str, *args: str) -> int:
        binary = EXAMPLES / name
        if not binary.exists():
            pytest.fail(f"{binary} is missing: build the examples with `cargo build --examples --workspace`")
        env = dict(os.environ, EXAMPLE_ADDR="127.0.0.1:0")
        proc = subprocess.Popen([str(binary), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        running.append(proc)
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, f"{name} printed no address: {first!r}"
        return int(match.group(1))

    yield _start
    for proc in running:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0, f"{proc.args[0]} exited with {proc.returncode} after Ctrl-C"


def test_core_example_answers_with_a_rust_handler(example):
    port = example("hello")
    resp = request(port, "GET", "/anything")
    assert resp.status == 200, resp
    assert resp.body.startswith(b"hello from hurricane-core: GET /anything"), resp


def test_static_example_serves_a_directory_in_front_of_the_application(example, tmp_path):
    (tmp_path / "site.css").write_text("body { color: red }\n")
    port = example("files", str(tmp_path))
    resp = request(port, "GET", "/static/site.css")
    assert (resp.status, resp.body) == (200, b"body { color: red }\n"), resp
    assert resp.header("etag"), resp
    assert request(port, "GET", "/static/missing.css").status == 404
    assert request(port, "GET", "/other").status == 200


def test_probe_example_starts_then_passes(example):
    port = example("probes")
    poll_until(lambda: request(port, "GET", "/startup").status, 15, until=lambda status: status == 200, what="/startup 200")
    assert request(port, "GET", "/alive").status == 200
    metrics = request(port, "GET", "/metrics")
    assert metrics.status == 200 and b"# TYPE" in metrics.body, metrics


def test_supervisor_example_spreads_connections_over_two_processes(example):
    port = example("pod")
    pids = {request(port, "GET", "/").body for _ in range(6)}
    assert len(pids) == 2 and all(pid.startswith(b"served by process ") for pid in pids), pids
