"""kube-proxy for one Service, as a process of its own: one listening port, each new
client connection spliced to a random endpoint of the proxy's current view, established
connections left where they are.

Routing follows kube-proxy (KEP-1669): an endpoint that is `ready` takes new
connections; only when none is ready do `serving` and `terminating` ones. With no
endpoint at all the connection is refused (reset at once, as iptables' REJECT does),
and so is one whose endpoint refuses it (iptables DNATs the SYN: the client sees the
backend's refusal; kube-proxy does not try another endpoint). A connection keeps its
endpoint until either side closes it, whatever the view says later (conntrack entries
of TCP flows are not flushed when an endpoint leaves).

The view arrives on stdin, one JSON object a line:
    {"version": N, "endpoints": [{"name", "port", "ready", "serving", "terminating"}]}
Every routing decision and every applied view is written to the log file (JSON lines):
    {"ev": "sync", "t", "version", "ready": [...], "fallback": [...]}
    {"ev": "route", "t", "client_port", "pod", "port"}
    {"ev": "reject", "t", "client_port", "pod", "why"}

Run as `python proxy.py PORT LOGFILE SEED`; it prints "listening" once it accepts and
exits when stdin closes. `ProxyProcess` runs it from the tests.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

BUFFER = 65536


class View:
    """The endpoints as this proxy last heard of them."""

    def __init__(self, rng: random.Random, log):
        self.rng = rng
        self.log = log
        self.ready: list[tuple[str, int]] = []
        self.fallback: list[tuple[str, int]] = []

    def apply(self, message: dict):
        eps = message["endpoints"]
        self.ready = [(e["name"], e["port"]) for e in eps if e["ready"]]
        self.fallback = [(e["name"], e["port"]) for e in eps if e["serving"] and e["terminating"]]
        self.log({"ev": "sync", "version": message["version"], "ready": [n for n, _ in self.ready], "fallback": [n for n, _ in self.fallback]})

    def pick(self) -> tuple[str, int] | None:
        pool = self.ready or self.fallback
        return self.rng.choice(pool) if pool else None


def _reset(writer: asyncio.StreamWriter):
    """Close with RST (SO_LINGER 0), as a refused or reset connection looks to a client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copy until EOF (then half-close the other side); False if the reading side was reset."""
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return False
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        pass
    return True


async def _splice(client_r, client_w, backend_r, backend_w):
    up = asyncio.ensure_future(_pump(client_r, backend_w))
    down = asyncio.ensure_future(_pump(backend_r, client_w))
    done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    # A reset on one side is passed on as a reset to the other.
    if down in done and down.result() is False:
        _reset(client_w)
        backend_w.transport.abort()
    elif up in done and up.result() is False:
        _reset(backend_w)
        client_w.transport.abort()
    await asyncio.gather(up, down, return_exceptions=True)
    for w in (client_w, backend_w):
        w.close()


def serve(port: int, logfile: Path, seed: int):
    out = open(logfile, "a", buffering=1)

    def log(record: dict):
        out.write(json.dumps({"t": time.time(), **record}) + "\n")

    view = View(random.Random(seed), log)

    async def on_client(client_r, client_w):
        client_port = client_w.get_extra_info("peername")[1]
        target = view.pick()
        if target is None:
            log({"ev": "reject", "client_port": client_port, "pod": None, "why": "no endpoints"})
            _reset(client_w)
            return
        name, backend = target
        try:
            backend_r, backend_w = await asyncio.open_connection("127.0.0.1", backend)
        except OSError as exc:
            log({"ev": "reject", "client_port": client_port, "pod": name, "why": f"{type(exc).__name__}: {exc}"})
            _reset(client_w)
            return
        log({"ev": "route", "client_port": client_port, "pod": name, "port": backend})
        await _splice(client_r, client_w, backend_r, backend_w)

    async def main():
        server = await asyncio.start_server(on_client, "127.0.0.1", port, backlog=1024, reuse_address=True)
        loop = asyncio.get_running_loop()
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        print("listening", flush=True)
        while line := await stdin.readline():
            view.apply(json.loads(line))
        server.close()
        # Stopping: the connections still spliced go with the proxy.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


class ProxyProcess:
    """The proxy above as a child process of the tests."""

    def __init__(self, port: int, logfile: Path, seed: int):
        self.port = port
        self.logfile = Path(logfile)
        # Here, not at the top: this file also runs as a script, outside the package.
        from .child import start_child

        args = [str(port), str(logfile), str(seed)]
        self.proc = start_child(__file__, args, self.logfile.with_suffix(".stderr.log"), "listening", f"the proxy on port {port}")

    def apply(self, version: int, endpoints: list[dict]):
        self.proc.stdin.write(json.dumps({"version": version, "endpoints": endpoints}) + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.logfile.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
