"""Small raw-HTTP client used by the end-to-end tests.

The tests talk to the real `hurricane` binary over loopback. Where framing
matters (pipelining, chunked bodies, connection reuse, malformed requests) they
use these helpers on a raw socket instead of http.client, so that what is
asserted is exactly what went over the wire.
"""

from __future__ import annotations

import errno
import json
import socket
import time
from dataclasses import dataclass, field

# Every network operation in the suite is bounded by this (seconds).
TIMEOUT = 10.0

# Request headers: a dict, or (name, value) pairs where order or repeats matter.
Headers = dict[str, str] | list[tuple[str, str]] | None


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection before a status line arrived."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    # False when the connection ended before the framing said the body was complete.
    complete: bool = True
    # Raw chunk sizes when the response used Transfer-Encoding: chunked.
    chunks: list[int] = field(default_factory=list)
    # Seconds from the start of reading until the first body byte (streaming tests).
    first_body_at: float | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def chunked(self) -> bool:
        te = self.header("transfer-encoding") or ""
        return "chunked" in te.lower()

    @property
    def connection_tokens(self) -> set[str]:
        return {
            t.strip().lower()
            for v in self.header_all("connection")
            for t in v.split(",")
            if t.strip()
        }

    def __repr__(self) -> str:  # short, for assertion messages
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return (
            f"<Response {self.version} {self.status} {self.reason!r} "
            f"headers={self.headers!r} body={body!r} complete={self.complete}>"
        )


def connect(port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


class Reader:
    """Buffered reader over a socket that survives resets and keeps leftovers.

    One Reader per connection: pipelined responses are read one after the other.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except OSError as exc:
            if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                data = b""
            else:
                raise
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self) -> bytes:
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                line = bytes(self.buf[: idx + 1])
                del self.buf[: idx + 1]
                return line
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                break
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def at_eof(self, timeout: float = 2.0) -> bool:
        """True if the peer closes the connection (EOF/reset) within `timeout`
        without sending anything more. False if data arrives or it stays open."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except (socket.timeout, TimeoutError):
            return False
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def read_response(self, method: str = "GET", skip_1xx: bool = True) -> Response:
        """Read one response; raise ConnectionClosed if none arrives."""
        start = time.monotonic()
        while True:
            line = self.readline()
            if not line:
                raise ConnectionClosed("connection closed before a status line")
            if line in (b"\r\n", b"\n"):
                continue
            break
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"malformed status line: {line!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            hline = self.readline()
            if hline in (b"\r\n", b"\n", b""):
                break
            name, _, value = hline.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        resp = Response(version, status, reason, headers)
        if 100 <= status < 200:
            if skip_1xx and status != 101:
                return self.read_response(method, skip_1xx)
            return resp
        if method.upper() == "HEAD" or status in (204, 304):
            return resp
        if resp.chunked:
            body = bytearray()
            while True:
                size_line = self.readline()
                if not size_line.endswith(b"\n"):
                    resp.complete = False
                    break
                if resp.first_body_at is None:
                    resp.first_body_at = time.monotonic() - start
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until the empty line
                    while True:
                        tline = self.readline()
                        if tline in (b"\r\n", b"\n"):
                            break
                        if not tline:
                            resp.complete = False
                            break
                    break
                resp.chunks.append(size)
                data = self.read(size)
                body += data
                if len(data) < size or self.read(2) != b"\r\n":
                    resp.complete = False
                    break
            resp.body = bytes(body)
        elif resp.header("content-length") is not None:
            n = int(resp.header("content-length"))
            if n and resp.first_body_at is None:
                if not self.buf:
                    self._fill()
                resp.first_body_at = time.monotonic() - start
            resp.body = self.read(n)
            resp.complete = len(resp.body) == n
        else:
            # close-delimited
            resp.body = self.read_to_eof()
        return resp


def read_or_half_close(sock: socket.socket, reader: "Reader", wait: float = 1.5, method: str = "GET") -> Response | None:
    """Read the next response; if nothing at all arrives within `wait` seconds
    (the server is waiting for the rest of an incomplete request), half-close
    as a client giving up would and read again. None = closed without a response."""
    if not reader.buf:
        sock.settimeout(wait)
        try:
            got = reader._fill()
        except (socket.timeout, TimeoutError):
            got = None
        sock.settimeout(TIMEOUT)
        if got is None:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
    try:
        return reader.read_response(method)
    except ConnectionClosed:
        return None


def send(sock: socket.socket, data: bytes) -> None:
    """sendall that tolerates the server having already answered and closed."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def exchange(port: int, data: bytes, method: str | None = None, timeout: float = TIMEOUT) -> Response:
    """Open a connection, send raw bytes, read one response, close."""
    if method is None:
        method = data.split(b" ", 1)[0].decode("latin-1")
    with connect(port, timeout=timeout) as sock:
        send(sock, data)
        return Reader(sock).read_response(method)


def request(port: int, method: str, path: str, headers: Headers = None, body: bytes = b"", version: str = "HTTP/1.1", timeout: float = TIMEOUT) -> Response:
    """One request on a fresh connection (Connection: close), raw framing."""
    return exchange(port, build(method, path, headers, body, version, close=True), method, timeout)


def build(method: str, path: str, headers: Headers = None, body: bytes = b"", version: str = "HTTP/1.1", close: bool = False) -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in items}
    if "host" not in names and version != "HTTP/1.0":
        items.insert(0, ("Host", "127.0.0.1"))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    if close and "connection" not in names:
        items.append(("Connection", "close"))
    head = f"{method} {path} {version}\r\n".encode("latin-1")
    for k, v in items:
        head += k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")) + b"\r\n"
    return head + b"\r\n" + body


def chunked(*parts: bytes) -> bytes:
    """Encode parts as a chunked body (with the terminating zero chunk)."""
    out = b""
    for p in parts:
        if p:
            out += b"%x\r\n%s\r\n" % (len(p), p)
    return out + b"0\r\n\r\n"


def server_alive(port: int) -> bool:
    """A fresh connection gets a complete HTTP response (any status)."""
    try:
        resp = request(port, "GET", "/__alive__", timeout=5)
        return resp.complete
    except (OSError, ConnectionClosed):
        return False


def port_refuses(port: int) -> bool:
    """Nothing listens on the loopback `port`: a connection is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
