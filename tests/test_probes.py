"""The probe listener: /startup, /alive, /ready and /metrics as the
kubelet and an operator see them. Every row of the README's probe table, the
headers, methods, paths, ?verbose, integrated mode, --no-probe, --no-metrics, --log-probes, the request-queue threshold under
real load, --max-lifetime, --max-memory, a wedged interpreter and a dead database.

The start-up row ("starting": 400 everywhere) is in test_startup.py, the
SIGTERM row in test_drain.py.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from support.client import Reader, build, connect, exchange, request, send
from support.env import requires
from support.poll import poll_until
from support.probes import (
    AVERAGE_BODY_RE,
    METRICS_CONTENT_TYPE,
    PROBE_CONTENT_TYPE,
    PROBES_SETTINGS,
    PYTHONPATH,
    STARTUP_BODY_RE,
    fetch_into,
    flag_off,
    flag_on,
    in_threads,
    listening_ports,
    parse_verbose,
    probes_env,
    sample_value,
    scrape,
    wait_checks_ran,
    wait_probe,
)

pytestmark = requires("probe")

PROBES = ["/startup", "/alive", "/ready"]
FLAKY_MESSAGE = b"probetest: the database server went away"


@pytest.fixture(scope="module")
def flags(tmp_path_factory):
    return tmp_path_factory.mktemp("probe-flags")


@pytest.fixture(scope="module")
def checks_server(start_server, mysite, flags, tmp_path_factory):
    """mysite + probetest (flag-controlled checks, a flaky second database, /wedge)."""
    env = probes_env(flags, PROBETEST_FLAKY_DB=tmp_path_factory.mktemp("flaky") / "other.sqlite3")
    # --workers 8: eight sleeping requests take every Python thread
    server = start_server("probes-checks", [*PROBES_SETTINGS, "--max-memory", "100000", "--workers", "8"], mysite, env)
    server.launched_at = time.time()
    return server


@pytest.fixture
def clean_flags(flags, checks_server):
    """Every flag removed after the test, and the probes passing again."""
    yield flags
    for name in ("liveness", "liveness-warning", "readiness", "other", "database-down"):
        flag_off(flags, name)
    wait_probe(checks_server, "/alive", 200)
    wait_probe(checks_server, "/ready", 200)


@pytest.fixture(scope="module")
def debug_server(start_server, mysite, tmp_path_factory):
    flags = tmp_path_factory.mktemp("debug-flags")
    env = probes_env(flags, PROBETEST_FLAKY_DB=tmp_path_factory.mktemp("flaky-debug") / "other.sqlite3")
    server = start_server("probes-debug", ["--settings", "testsettings.probes_debug", *PYTHONPATH], mysite, env)
    server.flags = flags
    return server


# ---------------------------------------------------------------------------
# Started, all fine
# ---------------------------------------------------------------------------


def test_listens_on_app_and_probe_port(checks_server):
    assert checks_server.probe_port != checks_server.port
    assert listening_ports(checks_server.pid) == {checks_server.port, checks_server.probe_port}
    assert re.search(rf"Starting probe server on port {checks_server.probe_port}\b", checks_server.log())


@pytest.mark.launchers
def test_startup_probe_after_start(checks_server):
    resp = checks_server.probe("/startup")
    assert resp.status == 200, resp
    m = STARTUP_BODY_RE.fullmatch(resp.body)
    assert m, resp
    seconds = float(m.group(1))
    assert 0 < seconds < time.time() - checks_server.launched_at + 30, seconds
    # the same figure as the log line
    logged = re.search(r"Startup time is (\d+(?:\.\d+)?) seconds", checks_server.log())
    assert logged, checks_server.tail()
    assert abs(float(logged.group(1)) - seconds) < 0.01, (logged.group(0), resp.body)


@pytest.mark.launchers
def test_liveness_and_readiness_pass(checks_server):
    alive = checks_server.probe("/alive")
    assert alive.status == 200, alive
    assert alive.body == b"alive" or AVERAGE_BODY_RE.fullmatch(alive.body), alive
    ready = checks_server.probe("/ready")
    assert (ready.status, ready.body) == (200, b""), ready


@pytest.mark.parametrize("path", PROBES)
def test_probe_headers(checks_server, path):
    resp = checks_server.probe(path)
    assert resp.status == 200, resp
    assert resp.header("cache-control") == "no-store", resp
    assert resp.header("content-type") == PROBE_CONTENT_TYPE, resp
    assert int(resp.header("content-length")) == len(resp.body), resp


def test_metrics_headers(checks_server):
    resp = checks_server.probe("/metrics")
    assert resp.status == 200, resp
    assert resp.header("cache-control") == "no-store", resp
    assert resp.header("content-type") == METRICS_CONTENT_TYPE, resp


@pytest.mark.parametrize("path", PROBES)
def test_head_same_status_no_body(checks_server, path):
    get = checks_server.probe(path)
    with connect(checks_server.probe_port) as sock:
        send(sock, build("HEAD", path, close=True))
        reader = Reader(sock)
        head = reader.read_response("HEAD")
        rest = reader.read_to_eof()
    assert head.status == get.status == 200, head
    assert rest == b"", f"HEAD {path} sent a body: {rest!r}"
    assert head.header("cache-control") == "no-store", head


@pytest.mark.parametrize("path", PROBES)
def test_post_is_answered_like_get(checks_server, path):
    resp = checks_server.probe(path, method="POST", body=b"ignored")
    assert resp.status == 200, resp
    if path == "/startup":
        assert STARTUP_BODY_RE.fullmatch(resp.body), resp
    if path == "/ready":
        assert resp.body == b""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/alive", "/ready", "/startup"])
def test_other_methods_get_405(checks_server, path, method):
    resp = checks_server.probe(path, method=method)
    assert resp.status == 405, resp
    assert resp.header("allow") == "GET, HEAD, POST", resp


@pytest.mark.parametrize("path", ["/startup/", "/alive/", "/ready/", "/alive?x=1", "/ready/?x=1&y", "/startup?"])
def test_trailing_slash_and_query_string(checks_server, path):
    resp = checks_server.probe(path)
    assert resp.status == 200, resp
    if path.startswith("/startup"):
        assert STARTUP_BODY_RE.fullmatch(resp.body), resp
    elif path.startswith("/alive"):
        assert resp.body == b"alive" or AVERAGE_BODY_RE.fullmatch(resp.body), resp
    else:
        assert resp.body == b""


@pytest.mark.parametrize("path", ["/alive//", "/ready//", "/", "/nope", "/alivex", "/hello", "/metricsx"])
def test_unknown_path_is_404(checks_server, path):
    resp = checks_server.probe(path)
    assert resp.status == 404, resp


def test_any_host_header_works(checks_server):
    # Django would answer 400 (DisallowedHost): probes never go through it
    resp = checks_server.probe("/alive", headers={"Host": "not-allowed.example.com"})
    assert resp.status == 200, resp
    resp = exchange(checks_server.probe_port, b"GET /ready HTTP/1.0\r\n\r\n")
    assert (resp.status, resp.body) == (200, b""), resp


def test_verbose_when_passing(checks_server):
    alive = checks_server.probe("/alive?verbose")
    assert alive.status == 200, alive
    checks, summary = parse_verbose(alive.body)
    assert checks.get("liveness-checks") == "ok" and checks.get("database") == "ok", alive
    assert checks.get("max-memory") == "ok", alive  # --max-memory 100000: configured, not reached
    assert summary == "liveness check passed", alive

    ready = checks_server.probe("/ready?verbose")
    assert ready.status == 200, ready
    checks, summary = parse_verbose(ready.body)
    assert checks.get("readiness-checks") == "ok", ready
    assert checks.get("database") == "ok", ready
    assert checks.get("request-queue") == "ok", ready
    assert summary == "readiness check passed", ready

    startup = checks_server.probe("/startup?verbose")
    assert startup.status == 200, startup
    checks, summary = parse_verbose(startup.body)
    assert checks.get("startup") == "ok", startup
    assert summary == "startup check passed", startup


# ---------------------------------------------------------------------------
# Django checks tagged liveness / readiness
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_liveness_check_error(checks_server, clean_flags):
    flag_on(clean_flags, "liveness")
    resp = wait_probe(checks_server, "/alive", 500, b"check error")
    assert resp.header("cache-control") == "no-store" and resp.header("content-type") == PROBE_CONTENT_TYPE
    assert (checks_server.probe("/ready").status, checks_server.probe("/startup").status) == (200, 200)

    verbose = checks_server.probe("/alive?verbose")
    assert verbose.status == 500, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["liveness-checks"].startswith("failed: "), verbose
    assert summary == "liveness check failed", verbose

    # the gauge reflects the last liveness probe
    families = scrape(checks_server)
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="liveness") == 0
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="startup") == 1

    flag_off(clean_flags, "liveness")
    wait_probe(checks_server, "/alive", 200)
    families = scrape(checks_server)
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="liveness") == 1


@pytest.mark.launchers
def test_readiness_check_error(checks_server, clean_flags):
    # the readiness check is registered with deploy=True: it only runs because the
    # probes include deployment checks
    flag_on(clean_flags, "readiness")
    wait_probe(checks_server, "/ready", 500, b"check error")
    alive = checks_server.probe("/alive")
    assert alive.status == 200, alive
    assert checks_server.probe("/startup").status == 200

    verbose = checks_server.probe("/ready?verbose")
    assert verbose.status == 500, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["readiness-checks"].startswith("failed: "), verbose
    assert summary == "readiness check failed", verbose

    families = scrape(checks_server)
    assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe="readiness") == 0
    flag_off(clean_flags, "readiness")
    wait_probe(checks_server, "/ready", 200, b"")


def test_warnings_do_not_fail(checks_server, clean_flags):
    flag_on(clean_flags, "liveness-warning")
    since = time.time()
    wait_checks_ran(clean_flags, "liveness", since, poke=lambda: checks_server.probe("/alive"))
    time.sleep(0.6)  # the run that saw the flag has published its result: this answer is at least as new
    resp = checks_server.probe("/alive")
    assert resp.status == 200, resp


def test_checks_with_other_tags_are_not_run_by_probes(checks_server, clean_flags):
    flag_on(clean_flags, "other")
    since = time.time()
    wait_checks_ran(clean_flags, "liveness", since, poke=lambda: checks_server.probe("/alive"))
    wait_checks_ran(clean_flags, "readiness", since, poke=lambda: checks_server.probe("/ready"))
    time.sleep(0.6)
    assert checks_server.probe("/alive").status == 200
    assert checks_server.probe("/ready").status == 200
    assert not (clean_flags / "other.ran").exists() or (clean_flags / "other.ran").stat().st_mtime < since


def test_debug_check_error_carries_djangos_report(debug_server):
    flags = debug_server.flags
    try:
        flag_on(flags, "liveness")
        resp = wait_probe(debug_server, "/alive", 500, re.compile(rb"django check error: .*", re.S))
        assert b"System check identified some issues" in resp.body, resp
        assert b"probetest.E001" in resp.body and b"liveness broken by the test" in resp.body, resp
        assert debug_server.probe("/ready").status == 200
    finally:
        flag_off(flags, "liveness")
    wait_probe(debug_server, "/alive", 200)


def test_debug_database_error_names_the_exception(debug_server):
    flags = debug_server.flags
    try:
        flag_on(flags, "database-down")
        resp = wait_probe(debug_server, "/alive", 500, re.compile(rb"django database error: .*", re.S))
        assert FLAKY_MESSAGE in resp.body, resp
        ready = wait_probe(debug_server, "/ready", 500, re.compile(rb"django database error: .*", re.S))
        assert FLAKY_MESSAGE in ready.body, ready
    finally:
        flag_off(flags, "database-down")
    wait_probe(debug_server, "/alive", 200)
    wait_probe(debug_server, "/ready", 200)


# ---------------------------------------------------------------------------
# A database that stops answering (SELECT 1 on every alias)
# ---------------------------------------------------------------------------


def test_database_unreachable(checks_server, clean_flags):
    # the alias "other" was connected and fine; now its server "goes away"
    assert checks_server.probe("/alive").status == 200
    flag_on(clean_flags, "database-down")
    wait_probe(checks_server, "/alive", 500, b"database error")
    wait_probe(checks_server, "/ready", 500, b"database error")
    assert checks_server.probe("/startup").status == 200
    verbose = checks_server.probe("/alive?verbose")
    assert verbose.status == 500, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["database"].startswith("failed: "), verbose
    assert summary == "liveness check failed", verbose
    # the app itself still serves (the default database is fine)
    assert request(checks_server.port, "GET", "/hello").status == 200

    flag_off(clean_flags, "database-down")
    wait_probe(checks_server, "/alive", 200)
    wait_probe(checks_server, "/ready", 200, b"")


# ---------------------------------------------------------------------------
# Probes do not need a free Python thread
# ---------------------------------------------------------------------------


def test_probes_answer_quickly_while_every_thread_sleeps(checks_server):
    out = []
    threads = in_threads(fetch_into, [(out, checks_server.port, "/sleep?ms=2000")] * 8)  # --workers 8
    time.sleep(0.4)
    timings = []
    for i in range(10):
        path = "/alive" if i % 2 == 0 else "/ready"
        start = time.monotonic()
        resp = checks_server.probe(path)
        timings.append(time.monotonic() - start)
        assert resp.status == 200, resp
        time.sleep(0.1)  # the checks keep running in the background meanwhile
    for t in threads:
        t.join(30)
    assert len(out) == 8 and all(getattr(r, "body", None) == b"slept" for r in out), out
    assert max(timings) < 0.5, f"probe took {max(timings):.3f}s while every Python thread slept: {timings}"


def test_wedged_interpreter_fails_liveness_in_time(checks_server, flags):
    """A view holding the GIL without releasing it (a catastrophic regular
    expression): liveness fails within the deadline instead of hanging, and
    passes again once the view is done."""
    deadline = 0.8  # --probe-timeout default
    marker = flags / "wedge.started"
    flag_off(flags, "wedge.started")
    out = []
    thread = threading.Thread(target=fetch_into, args=(out, checks_server.port, "/wedge?seconds=4.5", 60), daemon=True)
    thread.start()
    poll_until(marker.exists, 15, interval=0.02, what="the /wedge view to start")
    t0 = time.monotonic()
    seen = []
    failed = None
    while failed is None and time.monotonic() - t0 < 4:
        start = time.monotonic()
        resp = checks_server.probe("/alive", timeout=10)
        took = time.monotonic() - start
        seen.append((round(start - t0, 2), round(took, 2), resp.status, resp.body))
        assert took <= deadline + 1.0, f"liveness took {took:.2f}s with the GIL held: {seen}"
        if resp.status != 200:
            failed = resp
    assert failed is not None, f"liveness never failed while the GIL was held: {seen}"
    assert (failed.status, failed.body) == (500, b"checks did not finish within 0.8s"), seen
    assert seen[-1][0] + seen[-1][1] <= deadline + 1.5, f"liveness failed only after {seen[-1]}: {seen}"

    start = time.monotonic()
    ready = checks_server.probe("/ready", timeout=10)
    assert time.monotonic() - start <= deadline + 1.0
    verbose = checks_server.probe("/alive?verbose", timeout=10)
    thread.join(60)
    assert out and getattr(out[0], "status", None) == 200, out
    wedged_for = json.loads(out[0].body)["seconds"]
    assert wedged_for > 2.5, f"the view held the GIL only {wedged_for:.2f}s; the test proves nothing"
    assert (ready.status, ready.body) == (500, b"checks did not finish within 0.8s"), ready
    assert verbose.status == 500, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks.get("python", "").startswith("failed: "), verbose
    assert summary == "liveness check failed", verbose

    # the view is done: the checks run again and pass
    wait_probe(checks_server, "/alive", 200, timeout=5)
    wait_probe(checks_server, "/ready", 200, b"", timeout=5)


# ---------------------------------------------------------------------------
# Access log
# ---------------------------------------------------------------------------


def test_probes_are_not_access_logged(checks_server):
    mark = checks_server.mark()
    for path in ["/alive", "/ready", "/startup", "/metrics", "/nope"]:
        checks_server.probe(path)
    assert request(checks_server.port, "GET", "/hello?after-probes").status == 200
    checks_server.wait_log(r"200 GET /hello\?after-probes", since=mark)
    new = checks_server.log_since(mark)
    assert not re.search(r"GET /(alive|ready|startup|metrics|nope)\b", new), new


# ---------------------------------------------------------------------------
# The request queue under real concurrent load
# ---------------------------------------------------------------------------


def test_queue_threshold_under_load(one_server, mysite):
    server = one_server("probes-queue", ["--workers", "2", "--req-queue-len", "3"], mysite)
    assert server.probe("/ready").status == 200
    out = []
    # 2 threads run, 4 wait for one: 4 >= 3 for the first 2 s, then 2 < 3. (For the
    # first few ms only one thread runs: the pool lets the second in after a 2 ms stall,
    # so 5 may be seen waiting.)
    in_threads(fetch_into, [(out, server.port, "/sleep?ms=2000")] * 6)
    full = wait_probe(server, "/ready", 400, re.compile(rb"request queue length \d+ >= 3"), timeout=1.8)
    n = int(re.search(rb"length (\d+)", full.body).group(1))
    assert 3 <= n <= 5, full
    assert full.header("cache-control") == "no-store", full

    start = time.monotonic()
    alive = server.probe("/alive")
    assert alive.status == 200 and time.monotonic() - start < 0.5, alive
    families = scrape(server)
    assert sample_value(families, "request_queue_length", "request_queue_length") >= 3, families.get("request_queue_length")
    verbose = server.probe("/ready?verbose")
    assert verbose.status == 400, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["request-queue"].startswith("failed: ") and summary == "readiness check failed", verbose

    # the first two finish, the queue drains below 3: ready again while requests still run
    wait_probe(server, "/ready", 200, b"", timeout=4)
    assert not out or all(getattr(r, "body", None) == b"slept" for r in out), out
    # (the server is killed at teardown; the remaining sleeps are not waited for)


# ---------------------------------------------------------------------------
# --max-lifetime, --no-metrics, --max-memory, custom paths, --log-probes
# ---------------------------------------------------------------------------


def test_alive_body_and_max_lifetime_with_no_metrics(one_server, mysite):
    # --no-metrics turns off /metrics only; --max-lifetime still works (unlike django-hurricane).
    # No --probe-port: the default, --port + 1.
    server = one_server("probes-lifetime", ["--no-metrics", "--max-lifetime", "3"], mysite, start=False)
    server.auto_probe_port = False
    server.start()
    assert server.probe_port == server.port + 1
    assert re.search(rf"Starting probe server on port {server.port + 1}\b", server.log()), server.tail()
    resp = server.probe("/alive")
    assert (resp.status, resp.body) == (200, b"alive"), resp  # no app request yet
    assert server.probe("/metrics").status == 404
    for _ in range(5):  # probes are not app requests: not counted
        for path in PROBES:
            assert server.probe(path).status == 200
    for _ in range(3):
        assert request(server.port, "GET", "/hello").status == 200
    resp = wait_probe(server, "/alive", 200, AVERAGE_BODY_RE, timeout=3)
    assert b"Request queue size: 0 Rx" in resp.body, resp

    assert request(server.port, "GET", "/hello").status == 200  # the 4th: more than 3
    wait_probe(server, "/alive", 400, b"", timeout=3)
    assert (server.probe("/ready").status, server.probe("/ready").body) == (200, b"")
    assert server.probe("/startup").status == 200
    verbose = server.probe("/alive?verbose")
    assert verbose.status == 400, verbose
    checks, summary = parse_verbose(verbose.body)
    assert checks["max-lifetime"].startswith("failed: "), verbose
    assert summary == "liveness check failed"
    # the app still serves: restarting is the kubelet's job
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


def test_max_memory_custom_paths_and_log_probes(one_server, mysite):
    args = [
        "--max-memory", "1",
        "--log-probes",
        "--liveness-probe", "/healthz",
        "--readiness-probe", "/readyz",
        "--startup-probe", "/startupz",
        "--metrics", "/prom",
    ]  # fmt: skip
    server = one_server("probes-memory", args, mysite)
    mark = server.mark()
    resp = server.probe("/healthz")
    m = re.fullmatch(rb"memory usage (\d+) MB is above --max-memory 1 MB", resp.body)
    assert resp.status == 400 and m, resp
    assert int(m.group(1)) > 1, resp
    assert server.probe("/healthz/").status == 400
    verbose = server.probe("/healthz?verbose")
    checks, summary = parse_verbose(verbose.body)
    assert verbose.status == 400 and checks["max-memory"].startswith("failed: "), verbose
    assert summary == "liveness check failed"

    assert (server.probe("/readyz").status, server.probe("/readyz").body) == (200, b"")
    startup = server.probe("/startupz")
    assert startup.status == 200 and STARTUP_BODY_RE.fullmatch(startup.body), startup
    prom = server.probe("/prom")
    assert prom.status == 200 and prom.header("content-type") == METRICS_CONTENT_TYPE, prom
    for default in ["/alive", "/ready", "/startup", "/metrics"]:
        assert server.probe(default).status == 404, default

    # --log-probes: probe requests get access-log lines
    server.wait_log(r"400 GET /healthz\b", since=mark)
    server.wait_log(r"200 GET /readyz\b", since=mark)
    assert server.stop() == 0


# ---------------------------------------------------------------------------
# Where the probes listen: integrated, --no-probe (default port + 1: the --max-lifetime test)
# ---------------------------------------------------------------------------


def test_integrated_probes_on_the_app_port(one_server, mysite):
    server = one_server("probes-integrated", ["--probe-port", "{port}"], mysite)
    port = server.port
    assert server.probe_port == port
    assert listening_ports(server.pid) == {port}
    resp = request(port, "GET", "/alive")
    assert (resp.status, resp.body) == (200, b"alive"), resp
    assert resp.header("cache-control") == "no-store"
    startup = request(port, "GET", "/startup/")
    assert startup.status == 200 and STARTUP_BODY_RE.fullmatch(startup.body), startup
    assert (request(port, "GET", "/ready").status, request(port, "GET", "/ready").body) == (200, b"")
    assert request(port, "GET", "/metrics").header("content-type") == METRICS_CONTENT_TYPE
    # ahead of Django: no ALLOWED_HOSTS
    assert request(port, "GET", "/alive", headers={"Host": "not-allowed.example.com"}).status == 200
    assert request(port, "PUT", "/alive").status == 405
    # everything else is Django's
    hello = request(port, "GET", "/hello")
    assert (hello.status, hello.body) == (200, b"Hello, world!")
    assert request(port, "GET", "/alive//").status == 404
    assert request(port, "GET", "/hello", headers={"Host": "not-allowed.example.com"}).status == 400
    assert server.stop() == 0


def test_no_probe(one_server, mysite):
    server = one_server("probes-none", ["--no-probe"], mysite)
    assert server.probe_port is None
    assert listening_ports(server.pid) == {server.port}
    assert "Starting probe server" not in server.log()
    # the probe paths are not served on the app port either: they reach Django
    for path in ["/alive", "/ready", "/startup", "/metrics"]:
        resp = request(server.port, "GET", path)
        assert resp.status == 404 and resp.header("cache-control") != "no-store", resp
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0

