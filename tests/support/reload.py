"""Autoreload and debuggers: the supervisor's log lines, waits for a reload, child
processes, a client loop and a small DAP client (project copies: support.projects).

- `wait_body`: poll a path until it answers a given body;
- `wait_reloads`: poll the log until it shows that many "Reloaded in" lines;
- `ClientLoop`: a client sending requests back to back on a background thread, a new
  connection each time, recording every failure;
- `Dap`: the few Debug Adapter Protocol messages VS Code sends when it attaches.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from support.client import ConnectionClosed, request
from support.poll import poll_until

# A reload must serve the new code within this many seconds (the target is < 1 s;
# this is a correctness bound for a busy 2-core machine, not a benchmark).
RELOAD_BOUND = 15.0

WATCHING_RE = r"Watching for changes in (\d+) directories \(autoreload\)"
# "Reloaded in 0.42 s after a change to demo/views.py" [" and 2 more"]
RELOADED_RE = re.compile(r"Reloaded in (\d+(?:\.\d+)?) s after a change to (\S+?)(?: and (\d+) more)?(?=\s|$)", re.M)
RELOAD_FAILED_RE = r"ERROR.*Reload failed after a change to {path}; still serving the previous code"
COLLECTSTATIC_RE = re.compile(r"Running management command.*collectstatic")


def get(port: int, path: str, timeout: float = 10.0):
    return request(port, "GET", path, timeout=timeout)


def wait_body(server, path: str, body: str, timeout: float = RELOAD_BOUND, status: int = 200):
    """Poll `path` until it answers `status` with exactly `body`; returns the response."""
    return poll_until(
        lambda: get(server.port, path),
        timeout,
        until=lambda resp: resp.status == status and resp.body == body.encode(),
        what=f"GET {path} to answer {status} {body!r}",
        ignore=(OSError, ConnectionClosed),
        context=lambda: server.tail(40),
    )


def child_pid(server) -> int:
    resp = get(server.port, "/pid")
    assert resp.status == 200, resp
    return int(resp.body)


def reloaded_lines(log: str) -> list[re.Match]:
    return list(RELOADED_RE.finditer(log))


def wait_reloads(server, count: int, since: int = 0, timeout: float = RELOAD_BOUND) -> list[re.Match]:
    """Wait until at least `count` "Reloaded in" lines were logged after `since`."""
    return poll_until(
        lambda: reloaded_lines(server.log_since(since)),
        timeout,
        until=lambda found: len(found) >= count,
        what=f"{count} 'Reloaded in' lines",
        context=lambda: f"new stderr:\n{server.log_since(since)[-4000:]}",
    )


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _utc_now() -> str:
    """The time as the server's log lines show it (2026-11-22T07:23:04.688620Z)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClientLoop:
    """GET `path` on `port` back to back on a thread, a new connection per request.

    Every outcome is recorded; a failure is an exception (refused, reset, closed
    without a response, timeout), an incomplete body or a status other than 200."""

    def __init__(self, port: int, path: str):
        self.port = port
        self.path = path
        self.ok: list[bytes] = []
        self.bodies: set[bytes] = set()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            start = time.monotonic()
            at = _utc_now()  # to find the moment in the server's log
            try:
                resp = request(self.port, "GET", self.path, timeout=10)
            except (OSError, ConnectionClosed) as exc:
                self.failures.append(f"at {at}, after {time.monotonic() - start:.3f}s: {exc!r}")
                time.sleep(0.01)
                continue
            if resp.status == 200 and resp.complete:
                self.ok.append(resp.body)
                self.bodies.add(resp.body)
            else:
                self.failures.append(f"at {at}: {resp!r}")

    def __enter__(self) -> "ClientLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=15)


class Dap:
    """A Debug Adapter Protocol client over TCP (Content-Length framed JSON)."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.seq = 0
        self.messages: list[dict] = []

    def close(self):
        self.sock.close()

    def send(self, command: str, **arguments) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _read_more(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionClosed(f"debug adapter closed the connection; messages so far: {self.messages!r}")
        self.buf += data

    def recv(self) -> dict:
        while b"\r\n\r\n" not in self.buf:
            self._read_more()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        assert length is not None, f"no Content-Length in {head!r}"
        self.buf = rest
        while len(self.buf) < length:
            self._read_more()
        message = json.loads(self.buf[:length])
        self.buf = self.buf[length:]
        self.messages.append(message)
        return message

    def wait(self, predicate) -> dict:
        """The first message (already received or next) for which predicate holds."""
        for message in self.messages:
            if predicate(message):
                return message
        while True:
            message = self.recv()
            if predicate(message):
                return message

    def response(self, seq: int) -> dict:
        return self.wait(lambda m: m.get("type") == "response" and m.get("request_seq") == seq)

    def event(self, name: str) -> dict:
        return self.wait(lambda m: m.get("type") == "event" and m.get("event") == name)
