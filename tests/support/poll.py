"""`poll_until`: the one polling loop of the suite. Every wait (a log line, a probe
answer, a reload, a webhook, a file change) is a call to it."""

from __future__ import annotations

import time
from typing import Callable


def poll_until(
    check: Callable[[], object],
    timeout: float,
    *,
    until: Callable[[object], object] = bool,
    interval: float = 0.05,
    what: str = "condition",
    ignore: tuple[type[BaseException], ...] = (),
    context: Callable[[], str] | None = None,
):
    """Call `check()` every `interval` seconds until `until(result)` holds; return
    that result. An exception in `ignore` counts as a miss (e.g. a refused connection
    while a server restarts). After `timeout` seconds: AssertionError naming `what`,
    the last result (or exception) and `context()` (e.g. the server's log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = check()
            if until(last):
                return last
        except ignore as exc:
            last = exc
        if time.monotonic() >= deadline:
            extra = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)
