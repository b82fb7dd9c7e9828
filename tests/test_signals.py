"""SIGINT (Ctrl-C) and SIGTERM (Kubernetes stopping a pod that is still starting) at
every moment of start-up: one log line, no serving, exit status 0 at once, even while
Python is busy importing slow settings; and the same under --autoreload, for the
supervisor and its child.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from support.env import APPS, PANIC_WORDS, base_env, requires
from support.poll import poll_until

PYTHONPATH = ["--pythonpath", str(APPS)]
# Settings whose import takes 30 s: a server that waited for it would take that long.
SLOW_SETTINGS = ["--settings", "testsettings.slow", *PYTHONPATH]
# Far below the 30 s the import takes; generous for a busy machine.
EXIT_BOUND = 5.0
SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


def slow_env() -> dict[str, str]:
    env = base_env()
    env["SLOW_SETTINGS_SECONDS"] = "30"
    return env


def signal_and_wait(server, sig, group: bool = False) -> float:
    """Send `sig` (to the whole process group with `group`, as a terminal's Ctrl-C does)
    and wait for the exit; returns the seconds it took."""
    start = time.monotonic()
    if group:
        os.killpg(server.pid, sig)
    else:
        server.proc.send_signal(sig)
    poll_until(lambda: server.proc.poll() is not None, EXIT_BOUND, what=f"exit after {sig.name}\n{server.tail()}")
    return time.monotonic() - start


def assert_interrupted(server, sig):
    """Exit status 0, the log line for `sig`, nothing served, no traceback."""
    log = server.log()
    assert server.proc.returncode == 0, f"exit status {server.proc.returncode} after {sig.name}\n{log}"
    lines = [line for line in log.splitlines() if f"start-up interrupted by {sig.name}; exiting" in line]
    assert lines, f"no 'start-up interrupted by {sig.name}' line\n{log}"
    assert "Starting HTTP server" not in log, log
    for word in ("KeyboardInterrupt", "Traceback", *PANIC_WORDS):
        assert word not in log, f"{word!r} in the log\n{log}"


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("after", [0.1, 0.3], ids=["100ms", "300ms"])
def test_signal_right_after_launch(one_server, mysite, sig, after):
    server = one_server("signal-launch", SLOW_SETTINGS, mysite, slow_env(), start=False)
    server.launch()
    time.sleep(after)
    signal_and_wait(server, sig)
    assert_interrupted(server, sig)


@pytest.mark.parametrize("sig", SIGNALS)
def test_signal_while_the_settings_import(one_server, mysite, sig):
    server = one_server("signal-settings", SLOW_SETTINGS, mysite, slow_env(), start=False)
    server.launch()
    server.wait_log(r"Python started", timeout=30)
    time.sleep(0.5)  # inside the settings' import now
    took = signal_and_wait(server, sig)
    assert_interrupted(server, sig)
    print(f"exited {took:.2f}s after {sig.name}, with the settings still importing")


@pytest.mark.parametrize("sig", SIGNALS)
def test_signal_while_a_management_command_runs(one_server, mysite, sig):
    args = ["--settings", "testsettings.probes", *PYTHONPATH, "--command", "sleep_for 60"]
    server = one_server("signal-command", args, mysite, base_env(), start=False)
    server.launch()
    server.wait_log(r"Running management command.*sleep_for 60", timeout=30)
    time.sleep(0.3)
    signal_and_wait(server, sig)
    assert_interrupted(server, sig)


def process_group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@requires("reload")
@pytest.mark.parametrize(
    "sig,group",
    [pytest.param(signal.SIGINT, True, id="ctrl-c"), pytest.param(signal.SIGTERM, False, id="SIGTERM-to-the-supervisor")],
)
def test_signal_while_an_autoreload_child_starts(one_server, mysite, sig, group):
    server = one_server("signal-autoreload", ["--autoreload", *SLOW_SETTINGS], mysite, slow_env(), start=False)
    server.launch()
    server.wait_log(r"Watching for changes", timeout=30)
    server.wait_log(r"Python started", timeout=30)  # the child's
    time.sleep(0.5)
    signal_and_wait(server, sig, group=group)
    # The supervisor stops its starting child with SIGINT, whichever signal it got.
    assert_interrupted(server, signal.SIGINT)
    poll_until(lambda: process_group_gone(server.pid), EXIT_BOUND, what="the child to exit with the supervisor")
