"""Where things are, which binary runs, what it was built with, and the environment
and ports the servers get.

Environment knobs:
    HURRICANE_BIN       the binary (default <repo>/target/release/hurricane)
    HURRICANE_VENV      the virtualenv with Django etc. (default <repo>/target/venv)
    HURRICANE_LAUNCHER  how servers start: "binary" (the default: HURRICANE_BIN),
                        "manage.py" (`python manage.py serve` with HURRICANE_VENV's
                        python, the `hurricane` package installed there) or "script"
                        (HURRICANE_VENV's `hurricane` console script). Tests that run
                        with every launcher carry the mark `launchers`.
"""

from __future__ import annotations

import functools
import os
import random
import re
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
TESTS = REPO / "tests"
APPS = TESTS / "apps"
EXAMPLE = REPO / "examples" / "mysite"
VENV = Path(os.environ.get("HURRICANE_VENV", REPO / "target" / "venv"))
BIN = Path(os.environ.get("HURRICANE_BIN", REPO / "target" / "release" / "hurricane"))
VENV_PYTHON = VENV / "bin" / "python"
LAUNCHERS = ("binary", "manage.py", "script")
LAUNCHER = os.environ.get("HURRICANE_LAUNCHER", "binary")
if LAUNCHER not in LAUNCHERS:
    raise SystemExit(f"HURRICANE_LAUNCHER={LAUNCHER!r}: expected one of {', '.join(LAUNCHERS)}")
# The console script the Python package installs (`hurricane serve ...`).
SCRIPT = VENV / "bin" / "hurricane"

STARTUP_TIMEOUT = 30.0  # Django import + system checks on a busy 2-core machine
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Words that must never appear when hurricane fails to start.
PANIC_WORDS = ("panicked", "RUST_BACKTRACE")

# What a binary whose `--version` has no "features:" line was built with (the
# default features of the time).
DEFAULT_FEATURES = frozenset({"probe", "reload", "static", "webhook"})


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def require_binary():
    """Fails the test unless this run's launcher can start hurricane."""
    if not VENV_PYTHON.exists():
        pytest.fail(f"virtualenv not found at {VENV} (set HURRICANE_VENV)")
    if LAUNCHER == "binary" and not BIN.exists():
        pytest.fail(f"hurricane binary not found at {BIN} (build it with `cargo build --release -p hurricane-cli` or set HURRICANE_BIN)")
    if LAUNCHER != "binary" and not SCRIPT.exists():
        pytest.fail(f"the hurricane package is not installed in {VENV} (pip install target/wheels/<wheel>; `cargo xtask wheel` builds it)")


def hurricane_command(args: list[str]) -> list[str]:
    """The command line that runs `hurricane ARGS` with this run's launcher. Under
    "manage.py", ARGS start with `serve` and the working directory holds manage.py."""
    if LAUNCHER == "binary":
        return [str(BIN), *args]
    if LAUNCHER == "script":
        return [str(SCRIPT), *args]
    assert args[:1] == ["serve"], f"manage.py runs `serve` only, not {args}"
    return [str(VENV_PYTHON), "manage.py", *args]


@functools.cache
def features() -> frozenset[str]:
    """The cargo features the binary was built with, from the line
    `features: a b c` of `hurricane --version` (read once)."""
    program = BIN if LAUNCHER == "binary" else SCRIPT
    if not program.exists():
        return DEFAULT_FEATURES  # the fixtures fail with the reason
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        if line.startswith("features:"):
            return frozenset(line.removeprefix("features:").split())
    return DEFAULT_FEATURES


def has_feature(name: str) -> bool:
    return name in features()


def requires(*names: str):
    """A skip mark for tests of what only a build with all of `names` offers."""
    missing = [n for n in names if not has_feature(n)]
    return pytest.mark.skipif(bool(missing), reason=f"this hurricane build lacks the feature(s): {', '.join(missing)}")


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


def probe_port_args() -> list[str]:
    """["--probe-port", <free port>] if the binary has probes, else []: for commands
    started without Server, whose default probe port (port + 1) could be taken."""
    return ["--probe-port", str(free_port())] if has_feature("probe") else []


# HURRICANE_* variables of the caller that are not serve options; every other
# HURRICANE_* variable would configure the servers (`HURRICANE_PORT`, ...) and is dropped.
KEPT_HURRICANE_VARS = ("HURRICANE_BIN", "HURRICANE_VENV", "HURRICANE_LOG")


def base_env(venv: bool = True, path_venv: bool = True, **extra: str | os.PathLike) -> dict[str, str]:
    """The environment a user would have after `source target/venv/bin/activate`,
    plus the variables in `extra` (as strings)."""
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
    env.update({key: str(value) for key, value in extra.items()})
    return env
