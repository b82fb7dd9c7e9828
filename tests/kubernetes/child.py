"""Starting one of the simulation's helper processes (the load, the proxy): a script of
this package run with this Python, which prints one word on stdout once it is ready."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def start_child(script: str, args: list[str], stderr_log: Path, ready: str, what: str) -> subprocess.Popen:
    """Runs `script ARGS` with its stderr in `stderr_log`, and returns once it printed
    `ready`; raises RuntimeError (naming `what`) if it printed anything else."""
    with open(stderr_log, "wb") as err:
        proc = subprocess.Popen([sys.executable, script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    line = proc.stdout.readline()
    if line.strip() != ready:
        proc.kill()
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc
