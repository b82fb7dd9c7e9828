"""/metrics on the probe port: Prometheus text parsed with
prometheus_client's parser and linted with promtool.
"""

from __future__ import annotations

import http.client
import math
import os
import time

import pytest

from support.client import request
from support.env import requires
from support.poll import poll_until
from support.probes import METRICS_CONTENT_TYPE, PROBES_SETTINGS, assert_promtool_clean, metric_families, probes_env, sample_value, scrape
from support.server import run_hurricane

pytestmark = requires("probe")

COMMANDS = ["echo_args metrics", "echo_args 'x y'"]

TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, math.inf]
SIZE_BUCKETS = [100, 1000, 10000, 100000, 1e6, 1e7, 1e8, math.inf]

FAMILIES = {
    "request_counter": "counter",
    "response_time_average": "gauge",
    "request_queue_length": "gauge",
    "response_time_seconds": "histogram",
    "response_size_bytes": "histogram",
    "path_requests": "counter",
    "hurricane_info": "gauge",
    "hurricane_probe_passing": "gauge",
    "request_timeouts": "counter",
    "hurricane_stuck_requests": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_cpu_seconds": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
    "process_threads": "gauge",
}


@pytest.fixture(scope="module")
def metrics_server(start_server, mysite, tmp_path_factory):
    args = [*PROBES_SETTINGS]
    for command in COMMANDS:
        args += ["--command", command]
    env = probes_env(PROBETEST_OUT=tmp_path_factory.mktemp("metrics-out") / "out.jsonl")
    started = time.time()
    server = start_server("metrics", args, mysite, env)
    server.started = started
    # label sets for these exist before any test fills the path label space
    assert request(server.port, "GET", "/hello").status == 200
    assert request(server.port, "POST", "/echo", body=b"warm").status == 200
    wait_counter(server, 2)
    return server


def counter(server) -> float:
    return sample_value(scrape(server), "request_counter", "request_counter_total") or 0


def wait_counter(server, value, timeout=5.0) -> dict:
    """Scrape until request_counter_total reaches `value` (counted when a response ends)."""

    def total(families) -> float | None:
        return sample_value(families, "request_counter", "request_counter_total")

    return poll_until(
        lambda: scrape(server),
        timeout,
        until=lambda families: (total(families) or 0) >= value,
        what=f"request_counter_total >= {value}",
        context=lambda: f"request_counter_total is {total(scrape(server))}",
    )


def buckets(families, family) -> dict[float, float]:
    return {float(s.labels["le"]): s.value for s in families[family].samples if s.name == f"{family}_bucket"}


def test_content_type_and_cache_control(metrics_server):
    resp = metrics_server.probe("/metrics")
    assert resp.status == 200, resp
    assert resp.header("content-type") == METRICS_CONTENT_TYPE, resp
    assert resp.header("cache-control") == "no-store", resp


def test_families_and_types(metrics_server):
    families = scrape(metrics_server)
    got = {name: families[name].type for name in FAMILIES if name in families}
    assert got == FAMILIES, f"missing or mistyped families; all: {sorted((n, f.type) for n, f in families.items())}"


def cpu_seconds(pid) -> float:
    """utime + stime of `pid` from /proc, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_process_metrics(metrics_server):
    cpu_before = cpu_seconds(metrics_server.pid)
    f = scrape(metrics_server)
    cpu_after = cpu_seconds(metrics_server.pid)
    rss = sample_value(f, "process_resident_memory_bytes", "process_resident_memory_bytes")
    assert 5e6 < rss < 4e9, rss
    assert sample_value(f, "process_virtual_memory_bytes", "process_virtual_memory_bytes") >= rss
    # the CPU time the kernel reports for the process (seconds, not whole seconds)
    cpu = sample_value(f, "process_cpu_seconds", "process_cpu_seconds_total")
    assert cpu_before - 0.02 <= cpu <= cpu_after + 0.02, f"process_cpu_seconds_total {cpu}, /proc says {cpu_before:.2f}..{cpu_after:.2f}"
    assert 3 <= sample_value(f, "process_open_fds", "process_open_fds") <= sample_value(f, "process_max_fds", "process_max_fds")
    start = sample_value(f, "process_start_time_seconds", "process_start_time_seconds")
    assert abs(start - metrics_server.started) < 30, (start, metrics_server.started)
    assert sample_value(f, "process_threads", "process_threads") >= 3


def test_histogram_buckets(metrics_server):
    families = scrape(metrics_server)
    assert sorted(buckets(families, "response_time_seconds")) == TIME_BUCKETS
    assert sorted(buckets(families, "response_size_bytes")) == SIZE_BUCKETS


@pytest.mark.launchers
def test_app_requests_move_the_counters(metrics_server):
    before = wait_counter(metrics_server, 2)
    c0 = sample_value(before, "request_counter", "request_counter_total")
    hello0 = sample_value(before, "path_requests", "path_requests_total", method="GET", path="/hello") or 0
    echo0 = sample_value(before, "path_requests", "path_requests_total", method="POST", path="/echo") or 0
    size_count0 = sample_value(before, "response_size_bytes", "response_size_bytes_count")
    size_sum0 = sample_value(before, "response_size_bytes", "response_size_bytes_sum")
    small0 = buckets(before, "response_size_bytes")[100]
    mid0 = buckets(before, "response_size_bytes")[10000]
    time_count0 = sample_value(before, "response_time_seconds", "response_time_seconds_count")

    conn = http.client.HTTPConnection("127.0.0.1", metrics_server.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/hello")
        assert conn.getresponse().read() == b"Hello, world!"
    conn.request("POST", "/echo", body=b"e" * 5000)
    assert len(conn.getresponse().read()) == 5000
    conn.close()

    after = wait_counter(metrics_server, c0 + 4)
    assert sample_value(after, "request_counter", "request_counter_total") == c0 + 4
    assert sample_value(after, "path_requests", "path_requests_total", method="GET", path="/hello") == hello0 + 3
    assert sample_value(after, "path_requests", "path_requests_total", method="POST", path="/echo") == echo0 + 1
    assert sample_value(after, "response_size_bytes", "response_size_bytes_count") == size_count0 + 4
    assert sample_value(after, "response_size_bytes", "response_size_bytes_sum") == size_sum0 + 3 * 13 + 5000
    assert buckets(after, "response_size_bytes")[100] == small0 + 3  # 13-byte bodies
    assert buckets(after, "response_size_bytes")[10000] == mid0 + 4  # and the 5000-byte one
    assert sample_value(after, "response_time_seconds", "response_time_seconds_count") == time_count0 + 4
    assert sample_value(after, "response_time_average", "response_time_average") > 0
    assert sample_value(after, "request_queue_length", "request_queue_length") == 0


def test_probe_requests_are_not_counted(metrics_server):
    families = wait_counter(metrics_server, 2)
    c0 = sample_value(families, "request_counter", "request_counter_total")
    for _ in range(3):
        for path in ["/alive", "/ready", "/startup", "/metrics", "/nope"]:
            metrics_server.probe(path)
    time.sleep(0.3)
    assert counter(metrics_server) == c0


def test_hurricane_info(metrics_server):
    families = scrape(metrics_server)
    samples = families["hurricane_info"].samples
    assert len(samples) == 1, samples
    s = samples[0]
    assert s.value == 1
    # `hurricane 0.1.0`, then (in newer builds) a line `features: ...`
    version = run_hurricane(["--version"], None).stdout.splitlines()[0].split()[-1]
    assert s.labels["version"] == version, s
    assert float(s.labels["startup_time_seconds"]) > 0, s
    assert s.labels["server_port"] == str(metrics_server.port), s
    assert s.labels["probe_port"] == str(metrics_server.probe_port), s
    assert s.labels["serve_static"] == "false" and s.labels["serve_media"] == "false", s
    assert s.labels["commands"] == "; ".join(COMMANDS), s


def test_probe_state_gauges(metrics_server):
    assert metrics_server.probe("/alive").status == 200
    assert metrics_server.probe("/ready").status == 200
    families = scrape(metrics_server)
    for probe in ("startup", "liveness", "readiness"):
        assert sample_value(families, "hurricane_probe_passing", "hurricane_probe_passing", probe=probe) == 1, probe


def test_path_labels_are_bounded(metrics_server):
    conn = http.client.HTTPConnection("127.0.0.1", metrics_server.port, timeout=10)
    for i in range(130):
        conn.request("GET", f"/no-such-page-{i}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 404
    conn.close()
    c = counter(metrics_server)
    families = wait_counter(metrics_server, c)
    samples = [s for s in families["path_requests"].samples if s.name == "path_requests_total"]
    named = [s for s in samples if s.labels["path"] != "__other__"]
    other = [s for s in samples if s.labels["path"] == "__other__"]
    assert len(named) <= 100, len(named)
    assert other and sum(s.value for s in other) >= 30, other
    assert ("GET", "/hello") in {(s.labels["method"], s.labels["path"]) for s in named}
    # every app request is counted once, under its path or under __other__
    total = sample_value(families, "request_counter", "request_counter_total")
    assert sum(s.value for s in samples) == total


@pytest.mark.launchers
def test_promtool_check_metrics(metrics_server):
    resp = metrics_server.probe("/metrics")
    assert_promtool_clean(resp.body)
