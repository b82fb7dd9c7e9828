"""Hands this Python process over to hurricane (``hurricane._hurricane.run``).

Both entry points (``manage.py serve`` and the console script) come here, and from here
on hurricane behaves as the binary does: the same options (its command-line parser is
the one in Rust), the same signals, the same logs and exit status.
"""

from __future__ import annotations

import os
import signal
import sys

from hurricane import _hurricane


def launch(argv: list[str], default_log_level: str | None = None) -> None:
    """Runs hurricane with ``argv`` (``argv[0]`` names the program in ``--help``) and
    ends the process with its exit status. Never returns."""
    # hurricane handles SIGINT and SIGTERM itself (drain, then stop). Python's SIGINT
    # handler would also turn a Ctrl-C into a KeyboardInterrupt once hurricane returns.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    # As the binary runs Python: a print() in a view reaches the container log at once.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=True)
    relaunch = [sys.executable, *sys.orig_argv[1:]]
    status = _hurricane.run(argv, relaunch, default_log_level)
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit(): Python's shutdown would wait for the GIL, which a request stuck in
    # a view may hold forever. The binary does not wait for it either.
    os._exit(status)
