"""Steady HTTP load through the proxy, in a process of its own (so that neither its
threads nor the kubelet's share a GIL): `GET /hello` from clients of two kinds.

- keep-alive clients reuse one connection, as an HTTP client library's pool does. Before
  reusing it they look whether the server closed it while idle (urllib3's
  `is_connection_dropped`) and open a new one if so; after a response with
  `Connection: close` they close it. A request on a reused connection that ends before
  any byte of the response is sent once more on a new connection (it is a GET, which is
  idempotent), as urllib3 and Go's net/http do; the first attempt is recorded as
  `retried`. Nothing else is retried.
- new-connection clients open a connection per request (`requests.get` without a
  session, curl in a loop). They stand for independent callers: each request starts at
  its time whether the earlier ones have finished or not (open loop).

Each keep-alive client paces itself to its rate without catching up after a slow
request (closed loop). Every
attempt is one JSON line in the output file:
    {"id", "client", "kind", "t0", "t1", "local_port", "conn_t0", "reused", "attempt",
     "outcome": "ok" | "retried" | "error", "status", "body", "error", "close"}
`local_port` and `conn_t0` (when the connection was opened) match the proxy's routing
log, which names the pod each connection went to.

Run as `python load.py CONFIG_JSON OUTFILE`; it prints "running" and stops when stdin
closes. `LoadProcess` runs it from the tests.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

if __name__ == "__main__":  # run as a script: make tests/ importable for `support`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.client import ConnectionClosed, Reader, build  # noqa: E402


@dataclass
class LoadConfig:
    port: int
    keepalive_clients: int = 6
    new_connection_clients: int = 4
    rate_per_client: float = 30.0  # requests per second each
    timeout: float = 5.0  # a request taking longer fails
    path: str = "/hello"


class Recorder:
    def __init__(self, path: Path):
        self.out = open(path, "w", buffering=1 << 16)
        self.lock = threading.Lock()
        self.ids = itertools.count()

    def next_id(self) -> int:
        with self.lock:
            return next(self.ids)

    def write(self, record: dict):
        line = json.dumps(record) + "\n"
        with self.lock:
            self.out.write(line)

    def close(self):
        with self.lock:
            self.out.close()


class Connection:
    def __init__(self, port: int, timeout: float):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # Bound first, so that the port is known (for the proxy's log) even when the
        # connection is refused or reset while it opens.
        self.sock.bind(("127.0.0.1", 0))
        self.local_port = self.sock.getsockname()[1]
        self.t0 = time.time()
        self.reader = Reader(self.sock)

    def open(self, port: int):
        try:
            self.sock.connect(("127.0.0.1", port))
        except BaseException:
            self.close()
            raise

    def dropped(self) -> bool:
        """The server closed it (or sent something unasked) while it was idle."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable) or bool(self.reader.buf)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class NoResponse(Exception):
    """The connection ended before any byte of the response (a retry may follow)."""


def _exchange(conn: Connection, request: bytes):
    try:
        conn.sock.sendall(request)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise NoResponse(type(exc).__name__) from None
    try:
        resp = conn.reader.read_response("GET")
    except ConnectionClosed:
        raise NoResponse("closed before a status line") from None
    if not resp.complete:
        raise OSError("the connection ended in the middle of the body")
    return resp


class Client:
    """One client: `keepalive` ones send their requests one after the other on one
    connection (closed loop); the others send each request on a new connection at its
    time, whether earlier ones have finished or not (open loop: independent callers),
    from a shared pool of threads."""

    def __init__(self, name: str, keepalive: bool, config: LoadConfig, rec: Recorder, stop: threading.Event, pool: ThreadPoolExecutor):
        self.name, self.keepalive, self.config, self.rec, self.stop, self.pool = name, keepalive, config, rec, stop, pool
        self.conn: Connection | None = None
        self.request = build("GET", config.path, {"Host": "127.0.0.1", "User-Agent": f"sim-load/{name}"}, close=False)

    def run(self):
        interval = 1.0 / self.config.rate_per_client
        next_t = time.monotonic()
        while not self.stop.is_set():
            if self.keepalive:
                self.one_request()
            else:
                self.pool.submit(self.one_request)
            next_t = max(next_t + interval, time.monotonic())
            self.stop.wait(max(0.0, next_t - time.monotonic()))
        if self.conn is not None:
            self.conn.close()

    def one_request(self):
        rid = self.rec.next_id()
        holder = self if self.keepalive else _Holder()
        if self.attempt(holder, rid, 0) == "retried":
            self.attempt(holder, rid, 1)

    def attempt(self, holder, rid: int, attempt: int) -> str:
        record = {"id": rid, "client": self.name, "kind": "keepalive" if self.keepalive else "new", "attempt": attempt, "t0": time.time()}
        if holder.conn is not None and holder.conn.dropped():
            _drop(holder)
        reused = holder.conn is not None
        record.update(reused=reused, local_port=None, conn_t0=None, status=None, body=None, error=None, close=False)
        try:
            if holder.conn is None:
                holder.conn = Connection(self.config.port, self.config.timeout)
                record.update(local_port=holder.conn.local_port, conn_t0=holder.conn.t0)
                holder.conn.open(self.config.port)
            record.update(local_port=holder.conn.local_port, conn_t0=holder.conn.t0)
            resp = _exchange(holder.conn, self.request)
            record.update(outcome="ok", status=resp.status, body=resp.body[:200].decode("latin-1"), close="close" in resp.connection_tokens)
            if record["close"] or not self.keepalive:
                _drop(holder)
        except NoResponse as exc:
            _drop(holder)
            record.update(outcome="retried" if reused and attempt == 0 else "error", error=f"no response: {exc}")
        except (socket.timeout, TimeoutError):
            _drop(holder)
            record.update(outcome="error", error="timeout")
        except (OSError, AssertionError, ValueError) as exc:
            _drop(holder)
            record.update(outcome="error", error=f"{type(exc).__name__}: {exc}")
        record["t1"] = time.time()
        self.rec.write(record)
        return record["outcome"]


class _Holder:
    """The connection of one request of a new-connection client."""

    conn: Connection | None = None


def _drop(holder):
    if holder.conn is not None:
        holder.conn.close()
        holder.conn = None


def run(config: LoadConfig, out: Path):
    rec = Recorder(out)
    stop = threading.Event()
    # Enough threads for every new-connection request of a timeout's length at once.
    pool = ThreadPoolExecutor(max_workers=int(config.new_connection_clients * config.rate_per_client * config.timeout) + 8)
    clients = [Client(f"ka{i}", True, config, rec, stop, pool) for i in range(config.keepalive_clients)]
    clients += [Client(f"new{i}", False, config, rec, stop, pool) for i in range(config.new_connection_clients)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for i, t in enumerate(threads):
        t.start()
        time.sleep(0.5 / config.rate_per_client / len(threads))  # spread the clients over a period
    print("running", flush=True)
    sys.stdin.read()  # until the parent closes stdin
    stop.set()
    for t in threads:
        t.join(config.timeout + 5)
    pool.shutdown(wait=True)
    rec.close()
    print("stopped", flush=True)


class LoadProcess:
    """The load above as a child process of the tests."""

    def __init__(self, config: LoadConfig, out: Path):
        self.out = Path(out)
        self.config = config
        # Here, not at the top: this file also runs as a script, outside the package.
        from .child import start_child

        args = [json.dumps(asdict(config)), str(out)]
        self.proc = start_child(__file__, args, self.out.with_suffix(".stderr.log"), "running", "the load")
        self.started = time.time()

    def stop(self) -> list[dict]:
        """Stop the clients (each finishes its request) and return every attempt."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=self.config.timeout + 20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stopped = time.time()
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    run(LoadConfig(**json.loads(sys.argv[1])), Path(sys.argv[2]))
