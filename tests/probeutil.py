"""Shared helpers for the issue-3 tests (probes, start-up, metrics, webhooks, drain, config)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import APPS, base_env
from helpers import ConnectionClosed, request

PYTHONPATH = ["--pythonpath", str(APPS)]
PROBES_SETTINGS = ["--settings", "testsettings.probes", *PYTHONPATH]
PROBE_CONTENT_TYPE = "text/plain; charset=utf-8"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STARTUP_BODY_RE = re.compile(rb"Startup was finished (\d+(?:\.\d+)?(?:e-?\d+)?)")
AVERAGE_BODY_RE = re.compile(rb"Average response time: \d+\.\d\dms Request queue size: \d+ Rx")
PROBE_SERVER_RE = r"Starting probe server on port (\d+)"


def probes_env(flags: Path | None = None, **extra: str | os.PathLike) -> dict[str, str]:
    """base_env() plus PROBETEST_* variables for tests/apps/probetest."""
    env = base_env()
    if flags is not None:
        Path(flags).mkdir(parents=True, exist_ok=True)
        env["PROBETEST_FLAGS"] = str(flags)
    for key, value in extra.items():
        env[key] = str(value)
    return env


def wait_probe(server, path: str, status: int, body: bytes | re.Pattern | None = None, timeout: float = 5.0, port: int | None = None):
    """Poll `path` on the probe port until it answers `status` (and `body`, exact
    bytes or a compiled regex that must match fully). Returns the response.

    Needed after a check flips: the Python checks run again every second and a
    result answers probes for up to 3 s."""
    port = port if port is not None else server.probe_port
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = request(port, "GET", path, timeout=5)
            ok = last.status == status
            if ok and body is not None:
                ok = bool(body.fullmatch(last.body)) if isinstance(body, re.Pattern) else last.body == body
            if ok:
                return last
        except (OSError, ConnectionClosed) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{path} did not answer {status} {body!r} within {timeout}s; last: {last!r}\n{server.tail(20)}")
        time.sleep(0.1)


def flag_on(flags: Path, name: str):
    (flags / name).write_text("on")


def flag_off(flags: Path, name: str):
    try:
        (flags / name).unlink()
    except FileNotFoundError:
        pass


def wait_checks_ran(flags: Path, tag: str, after: float, timeout: float = 5.0, poke=None):
    """Wait until the `tag` check touched its marker after `after` (time.time()).
    `poke()` is called between looks (e.g. a probe request that makes them run)."""
    marker = flags / f"{tag}.ran"
    deadline = time.monotonic() + timeout
    while True:
        if marker.exists() and marker.stat().st_mtime > after:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"the {tag} check did not run within {timeout}s")
        if poke is not None:
            poke()
        time.sleep(0.1)


def verbose_lines(body: bytes) -> list[str]:
    return body.decode("utf-8").strip("\n").split("\n")


CHECK_LINE_RE = re.compile(r"\[([+-])\]([a-z-]+) (ok|failed: .+)")
CHECK_NAMES = {"startup", "liveness-checks", "readiness-checks", "database", "python", "max-lifetime", "max-memory", "request-queue", "shutdown"}


def parse_verbose(body: bytes) -> tuple[dict[str, str], str]:
    """?verbose body -> ({check name: "ok" | "failed: ..."}, summary line)."""
    lines = verbose_lines(body)
    assert len(lines) >= 2, body
    checks = {}
    for line in lines[:-1]:
        m = CHECK_LINE_RE.fullmatch(line)
        assert m, f"not a check line: {line!r} in {body!r}"
        assert m.group(2) in CHECK_NAMES, f"unknown check name {m.group(2)!r} in {body!r}"
        assert (m.group(1) == "+") == (m.group(3) == "ok"), line
        checks[m.group(2)] = m.group(3)
    return checks, lines[-1]


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process `pid` listens on (from /proc)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def metric_families(text: str) -> dict:
    """Prometheus text -> {family name: Metric} via prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {fam.name: fam for fam in text_string_to_metric_families(text)}


def scrape(server, port: int | None = None, path: str = "/metrics") -> dict:
    resp = request(port if port is not None else server.probe_port, "GET", path)
    assert resp.status == 200, resp
    return metric_families(resp.body.decode("utf-8"))


def sample_value(families: dict, family: str, sample: str, **labels) -> float | None:
    """The value of the sample `sample` with `labels`, looked up in `family` first and
    then in every family (so that a family with another name or type, which
    test_metrics.py::test_families_and_types reports, does not hide the value)."""
    ordered = [families[family]] if family in families else []
    ordered += [f for name, f in families.items() if name != family]
    for fam in ordered:
        for s in fam.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def in_threads(fn, args_list) -> list[threading.Thread]:
    threads = [threading.Thread(target=fn, args=args, daemon=True) for args in args_list]
    for t in threads:
        t.start()
    return threads


def fetch_into(out: list, port: int, path: str, timeout: float = 30):
    """Thread target: GET `path`, append the response (or the exception) to `out`."""
    try:
        out.append(request(port, "GET", path, timeout=timeout))
    except Exception as exc:  # noqa: BLE001 - recorded for the assertion
        out.append(exc)


# ---------------------------------------------------------------------------
# Webhook receiver
# ---------------------------------------------------------------------------


class Receiver:
    """A local HTTP server recording every POST: (monotonic time, path, headers, raw body).

    `statuses` is the list of statuses to answer, in order (the last one repeats);
    `delay` seconds of sleep before each answer."""

    def __init__(self, statuses=(200,), delay: float = 0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    index = len(receiver.calls)
                    receiver.calls.append(
                        {"at": time.monotonic(), "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
                    )
                    status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def pairs(call) -> list[tuple[str, object]]:
        """The JSON body as (key, value) pairs in the order sent."""
        return json.loads(call["raw"].decode("utf-8"), object_pairs_hook=list)

    def payloads(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            calls = list(self.calls)
        out = [dict(self.pairs(c)) for c in calls]
        return [p for p in out if type_ is None or p.get("type") == type_]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "webhook"):
        deadline = time.monotonic() + timeout
        while True:
            got = predicate(self.payloads())
            if got:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {what} within {timeout}s; received: {self.payloads()!r}")
            time.sleep(0.05)


def run_serve(args: list[str], cwd, env: dict[str, str] | None = None, timeout: float = 60):
    """Run `hurricane serve --host 127.0.0.1 --port P --probe-port Q ARGS` to completion
    (start-up failures). Returns (exit code, stderr text, stdout text)."""
    import subprocess

    from conftest import BIN, free_port, require_binary, strip_ansi

    require_binary()
    port = free_port()
    probe = free_port()
    cmd = [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--probe-port", str(probe), *args]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env if env is not None else base_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout}s: {cmd}\n{strip_ansi(err.decode('utf-8', 'replace'))}")
    return proc.returncode, strip_ansi(err.decode("utf-8", "replace")), strip_ansi(out.decode("utf-8", "replace"))
