"""SIGTERM drain with --shutdown-delay: readiness fails at once, the
app keeps serving for the delay, then the graceful drain; SIGINT skips the delay.
"""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest

from support.client import ConnectionClosed, request
from support.env import requires
from support.poll import poll_until
from support.probes import fetch_into, parse_verbose

pytestmark = requires("probe")


def refused(port: int) -> bool:
    try:
        request(port, "GET", "/hello", timeout=2)
        return False
    except (OSError, ConnectionClosed):
        return True


@pytest.mark.launchers
def test_sigterm_fails_readiness_and_serves_for_the_delay(one_server, mysite):
    server = one_server("drain-delay", ["--shutdown-delay", "2"], mysite)
    assert server.probe("/ready").status == 200
    out = []
    slow = threading.Thread(target=fetch_into, args=(out, server.port, "/sleep?ms=4000"), daemon=True)
    slow.start()
    time.sleep(0.4)  # in the view now
    mark = server.mark()
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)

    ready = poll_until(lambda: server.probe("/ready"), 0.5, until=lambda r: r.status == 503, interval=0.02, what="/ready to fail after SIGTERM")
    assert (ready.status, ready.body) == (503, b"shutting down"), ready
    assert ready.header("cache-control") == "no-store"
    alive = server.probe("/alive")
    assert alive.status == 200, alive
    checks, summary = parse_verbose(server.probe("/ready?verbose").body)
    assert checks["shutdown"].startswith("failed: ") and summary == "readiness check failed", checks
    assert server.probe("/startup").status == 200

    served = []
    while time.monotonic() - t0 < 1.6:  # new connections, during the delay
        resp = request(server.port, "GET", "/hello", timeout=5)
        served.append((resp.status, resp.body))
        time.sleep(0.2)
    assert served and all(s == (200, b"Hello, world!") for s in served), served
    assert server.alive()

    time.sleep(max(0, t0 + 2.6 - time.monotonic()))  # delay over, the slow request still running
    assert server.alive(), "exited before the in-flight request finished"
    assert refused(server.port), "a new connection was served after --shutdown-delay"
    assert server.probe("/ready").status == 503

    slow.join(15)
    assert out and getattr(out[0], "body", None) == b"slept", out
    server.proc.wait(timeout=15)
    took = time.monotonic() - t0
    assert server.proc.returncode == 0, server.tail()
    assert took >= 2.0, took
    new = server.log_since(mark)
    assert "Received SIGTERM" in new, new
    assert any(re.search(r"delay", line, re.I) and re.search(r"\b2(\.0+)?\s*s", line) for line in new.splitlines()), new


@pytest.mark.launchers
def test_sigint_skips_the_delay(one_server, mysite):
    server = one_server("drain-sigint", ["--shutdown-delay", "5"], mysite)
    out = []
    slow = threading.Thread(target=fetch_into, args=(out, server.port, "/sleep?ms=1500"), daemon=True)
    slow.start()
    time.sleep(0.4)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert refused(server.port), "SIGINT: a new connection was still served"
    slow.join(15)
    assert out and getattr(out[0], "body", None) == b"slept", out
    server.proc.wait(timeout=15)
    took = time.monotonic() - t0
    assert server.proc.returncode == 0, server.tail()
    assert took < 4, f"SIGINT exit took {took:.1f}s: the 5 s --shutdown-delay was not skipped"


def test_second_signal_during_the_delay_exits_at_once(one_server, mysite):
    server = one_server("drain-second", ["--shutdown-delay", "30"], mysite)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.alive()
    assert request(server.port, "GET", "/hello").status == 200  # still serving in the delay
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=10)
    assert time.monotonic() - t0 < 3
    assert server.proc.returncode == 0, server.tail()
