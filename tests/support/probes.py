"""Probes, checks and metrics: settings for tests/apps/probetest, polling a probe,
the checks' flag files, `?verbose` parsing, listening ports, metrics scraping, and
requests from threads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from support.client import ConnectionClosed, request
from support.env import APPS, base_env
from support.poll import poll_until

PYTHONPATH = ["--pythonpath", str(APPS)]
PROBES_SETTINGS = ["--settings", "testsettings.probes", *PYTHONPATH]
PROBE_CONTENT_TYPE = "text/plain; charset=utf-8"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STARTUP_BODY_RE = re.compile(rb"Startup was finished (\d+(?:\.\d+)?(?:e-?\d+)?)")
AVERAGE_BODY_RE = re.compile(rb"Average response time: \d+\.\d\dms Request queue size: \d+ Rx")
PROBE_SERVER_RE = r"Starting probe server on port (\d+)"


def probes_env(flags: Path | None = None, **extra: str | os.PathLike) -> dict[str, str]:
    """base_env() plus PROBETEST_* variables for tests/apps/probetest."""
    if flags is not None:
        Path(flags).mkdir(parents=True, exist_ok=True)
        extra["PROBETEST_FLAGS"] = flags
    return base_env(**extra)


def wait_probe(server, path: str, status: int, body: bytes | re.Pattern | None = None, timeout: float = 5.0, port: int | None = None):
    """Poll `path` on the probe port until it answers `status` (and `body`, exact
    bytes or a compiled regex that must match fully). Returns the response.

    Needed after a check flips: the Python checks run again every second and a
    result answers probes for up to 3 s."""
    port = port if port is not None else server.probe_port

    def answers(resp) -> bool:
        if resp.status != status or body is None:
            return resp.status == status
        return bool(body.fullmatch(resp.body)) if isinstance(body, re.Pattern) else resp.body == body

    return poll_until(
        lambda: request(port, "GET", path, timeout=5),
        timeout,
        until=answers,
        interval=0.1,
        what=f"{path} to answer {status} {body!r}",
        ignore=(OSError, ConnectionClosed),
        context=lambda: server.tail(20),
    )


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

    def ran() -> bool:
        if marker.exists() and marker.stat().st_mtime > after:
            return True
        if poke is not None:
            poke()
        return False

    poll_until(ran, timeout, interval=0.1, what=f"the {tag} check to run")


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


# promtool's lint flags any name containing "_counter_", whatever the family's type;
# `request_counter_total` is django-hurricane's name, which dashboards query: that one
# finding is allowed, any other is not.
ALLOWED_LINT = {"request_counter_total metric name should not include type 'counter'"}


def assert_promtool_clean(body: bytes):
    """`promtool check metrics` accepts `body` (exit 3 = lint findings only, of which
    only ALLOWED_LINT), and prometheus_client parses it as a whole."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found on PATH: `cargo xtask ci` installs it (Debian's `prometheus` package: apt-get install -y --no-install-recommends prometheus)")
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    report = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    findings = [line for line in report.splitlines() if line.strip() and line.strip() not in ALLOWED_LINT]
    assert proc.returncode in (0, 3) and not findings, f"promtool check metrics (exit {proc.returncode}):\n{report}\n{body.decode()}"
    assert metric_families(body.decode("utf-8"))
