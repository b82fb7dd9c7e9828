"""`--timeout SECONDS`: a request whose response has not started that long after it
arrived (time queued for a Python thread included) is answered 504 Gateway Timeout by
hurricane. The Python thread running it cannot be stopped: it goes on, its result is
dropped, and its stack (naming the view's file and line) is logged. A request still
queued at its deadline never runs.

The view is the example project's /sleep?ms=N (demo/views.py). Time bounds are
generous upper bounds (shared 2-core machines), each far below what the view would take
without the timeout.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.client import request
from support.env import PANIC_WORDS, base_env, free_port, requires
from support.poll import poll_until
from support.probes import PYTHONPATH, probes_env, sample_value, scrape
from support.server import run_hurricane

# The sleeping view runs this long, well past the 1 s timeout.
SLEEP_MS = 4000
# A 504 at 1 s, late by at most this much on a busy machine (the view itself would
# answer after 4 s).
ANSWERED_BY = 2.5

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def view_line(site: Path, function: str, needle: str) -> int:
    """The line number of the first line holding `needle` in `function` of demo/views.py."""
    lines = (site / "demo" / "views.py").read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"def {function}(")))
    return next(n + 1 for n in range(start, len(lines)) if needle in lines[n])


def stack_line_re(site: Path) -> str:
    """The format_stack line naming the sleeping view where it waits."""
    line = view_line(site, "sleep", "time.sleep(")
    return rf'File "[^"]*/demo/views\.py", line {line}, in sleep'


def timeouts(server) -> float:
    return sample_value(scrape(server), "request_timeouts", "request_timeouts_total")


def stuck(server) -> float:
    return sample_value(scrape(server), "hurricane_stuck_requests", "hurricane_stuck_requests")


def wait_no_stuck_thread(server):
    """Until the views of earlier timed-out requests have returned."""
    poll_until(lambda: stuck(server), SLEEP_MS / 1000 + 5, until=lambda n: n == 0, what="hurricane_stuck_requests 0")


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


def assert_gateway_timeout(resp, seconds: str = "1"):
    assert resp.status == 504, resp
    assert resp.header("content-type") == "text/plain; charset=utf-8", resp
    assert f"did not answer within {seconds} s".encode() in resp.body, resp


@pytest.fixture(scope="module")
def timeout_server(start_server, mysite):
    """The example project with --timeout 1 and the default (adaptive) pool."""
    return start_server("request-timeout", ["--timeout", "1"], mysite)


def test_a_view_past_the_timeout_gets_504_and_its_stack_is_logged(timeout_server, mysite):
    mark = timeout_server.mark()
    resp, took = timed(request, timeout_server.port, "GET", f"/sleep?ms={SLEEP_MS}", timeout=30)
    assert_gateway_timeout(resp)
    assert 0.95 <= took < ANSWERED_BY, f"504 after {took:.2f}s with --timeout 1"
    logged = timeout_server.wait_log(r"ERROR.*GET /sleep did not answer within 1 s[^\n]*\n(?:.*\n)*?.*" + stack_line_re(mysite), since=mark)
    entry = logged.group(0)
    assert "answered 504" in entry and "cannot be stopped" in entry, entry
    # the event's fields follow its (multi-line) message: after the view's source line
    rest = "\n".join(timeout_server.log_since(mark)[logged.end() :].split("\n")[:2])
    assert re.search(r'method=GET path="?/sleep"? timeout_s=1(\.0)? thread=python-\d+', rest), rest


@requires("probe")
def test_other_requests_are_served_while_a_thread_is_stuck_and_after(timeout_server):
    wait_no_stuck_thread(timeout_server)
    before = timeouts(timeout_server)
    mark = timeout_server.mark()
    with ThreadPoolExecutor(1) as pool:
        sleeper = pool.submit(request, timeout_server.port, "GET", f"/sleep?ms={SLEEP_MS}", timeout=30)
        time.sleep(0.3)
        # meanwhile: the sleeping view holds a thread, not the server
        hello, took = timed(request, timeout_server.port, "GET", "/hello")
        assert (hello.status, hello.body) == (200, b"Hello, world!"), hello
        assert took < 1, f"/hello took {took:.2f}s while /sleep ran"
        assert_gateway_timeout(sleeper.result(timeout=30))
    # the view still sleeps on its thread, stuck; the others serve
    assert stuck(timeout_server) == 1
    for _ in range(5):
        hello, took = timed(request, timeout_server.port, "GET", "/hello")
        assert hello.status == 200 and took < 1, (hello, took)
    assert timeouts(timeout_server) == before + 1
    # the view returns: its result is dropped, the thread serves again
    timeout_server.wait_log(r"the Python call of a timed-out request returned [\d.]+ s after its 504", since=mark, timeout=SLEEP_MS / 1000 + 5)
    assert stuck(timeout_server) == 0
    assert request(timeout_server.port, "GET", "/hello").status == 200
    assert timeouts(timeout_server) == before + 1


def test_without_timeout_the_same_view_answers(django_server):
    resp, took = timed(request, django_server.port, "GET", "/sleep?ms=1500", timeout=30)
    assert (resp.status, resp.body) == (200, b"slept"), resp
    assert took >= 1.5, took


def items(server) -> list[str]:
    resp = request(server.port, "GET", "/items")
    assert resp.status == 200, resp
    return [item["name"] for item in resp.json()["items"]]


def test_a_request_queued_behind_a_busy_thread_times_out_without_running(one_server, mysite):
    """One Python thread, busy with a sleeping view: a POST queued behind it is
    answered 504 at its own deadline and never runs, not even once the thread is
    free again."""
    server = one_server("timeout-queued", ["--workers", "1", "--concurrency", "fixed", "--timeout", "1"], mysite)
    name = f"queued-{uuid.uuid4().hex[:8]}"
    mark = server.mark()
    with ThreadPoolExecutor(1) as pool:
        sleeper = pool.submit(request, server.port, "GET", "/sleep?ms=2500", timeout=30)
        time.sleep(0.3)
        queued, took = timed(request, server.port, "POST", "/items", headers=FORM, body=f"name={name}".encode(), timeout=30)
        assert_gateway_timeout(queued)
        assert took < ANSWERED_BY, f"504 after {took:.2f}s"
        assert_gateway_timeout(sleeper.result(timeout=30))
    server.wait_log(r"POST /items waited 1 s for a Python thread \(--timeout\): answered 504; it will not run", since=mark)
    # the thread comes back from the view, skips the abandoned POST, and serves again
    server.wait_log(r"the Python call of a timed-out request returned", since=mark, timeout=10)
    created = request(server.port, "POST", "/items", headers=FORM, body=f"name=after-{name}".encode())
    assert created.status == 201, created
    assert name not in items(server) and f"after-{name}" in items(server)
    assert server.stop() == 0


def test_the_timeout_can_come_from_the_django_settings(one_server, mysite):
    env = probes_env(PROBETEST_SETTINGS=json.dumps({"HURRICANE_TIMEOUT": 1}))
    server = one_server("timeout-setting", ["--settings", "testsettings.hurricane_opts", *PYTHONPATH], mysite, env)
    resp, took = timed(request, server.port, "GET", f"/sleep?ms={SLEEP_MS}", timeout=30)
    assert_gateway_timeout(resp)
    assert took < ANSWERED_BY, f"504 after {took:.2f}s"
    assert server.stop() == 0


@pytest.mark.parametrize("source", ["flag", "env"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_a_timeout_of_zero_or_less_is_refused(mysite, source, value):
    env = base_env()
    args = ["serve", "--host", "127.0.0.1", "--port", str(free_port())]
    if source == "flag":
        args += [f"--timeout={value}"]
    else:
        env["HURRICANE_TIMEOUT"] = value
    rc, err, out = run_hurricane(args, mysite, env)
    assert rc != 0, err
    assert "must be above 0 seconds" in err, err
    assert ("--timeout" if source == "flag" else "HURRICANE_TIMEOUT") in err, err
    assert not any(word in err + out for word in PANIC_WORDS), err
    assert "Starting HTTP server" not in err, err
