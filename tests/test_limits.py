"""Concurrency and limits: worker pool, body and header limits, slow clients,
graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.client import ConnectionClosed, Reader, build, chunked, connect, exchange, request, send, server_alive

LIMIT = 1024


@pytest.fixture(scope="module")
def limited_server(start_server, mysite):
    return start_server("django-limited", ["--max-body-size", str(LIMIT), "--max-header-size", "16384"], mysite)


# ---------------------------------------------------------------------------
# --max-body-size -> 413
# ---------------------------------------------------------------------------


def test_body_at_the_limit_is_accepted(limited_server):
    body = b"x" * LIMIT
    resp = request(limited_server.port, "POST", "/echo", body=body)
    assert (resp.status, resp.body) == (200, body)


def test_declared_body_too_large_gets_413(limited_server):
    body = b"x" * (LIMIT + 1)
    resp = request(limited_server.port, "POST", "/echo", body=body)  # headers + whole body in one go
    assert resp.status == 413, resp
    assert resp.complete and 0 < len(resp.body) < 200, resp  # a short body, not a reset
    assert resp.header("date")
    assert server_alive(limited_server.port)


def test_huge_declared_body_gets_413_without_reading_it(limited_server):
    # 10 GB announced, nothing sent: the answer must not wait for the body
    resp = exchange(limited_server.port, build("POST", "/echo", headers={"Content-Length": str(10**10)}))
    assert resp.status == 413, resp


def test_chunked_body_too_large_gets_413(limited_server):
    raw = build("POST", "/echo", headers={"Transfer-Encoding": "chunked"}, close=True) + chunked(*[b"y" * 300] * 5)
    resp = exchange(limited_server.port, raw)
    assert resp.status == 413, resp
    assert resp.complete and len(resp.body) < 200
    assert server_alive(limited_server.port)


def test_chunked_body_below_limit_is_accepted(limited_server):
    raw = build("POST", "/echo", headers={"Transfer-Encoding": "chunked"}, close=True) + chunked(*[b"z" * 200] * 5)
    resp = exchange(limited_server.port, raw)
    assert (resp.status, resp.body) == (200, b"z" * 1000)


def test_expect_continue_with_too_large_body(limited_server):
    with connect(limited_server.port) as sock:
        send(sock, build("POST", "/echo", headers={"Expect": "100-continue", "Content-Length": str(LIMIT * 4)}, close=True))
        reader = Reader(sock)
        resp = reader.read_response(skip_1xx=False)
        if resp.status == 100:  # allowed, but then the final answer is still 413
            send(sock, b"x" * LIMIT * 4)
            resp = reader.read_response()
    assert resp.status == 413, resp


# ---------------------------------------------------------------------------
# Header size and header read timeout
# ---------------------------------------------------------------------------


def _huge_header_response(port, size):
    raw = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * size + b"\r\nConnection: close\r\n\r\n"
    with connect(port) as sock:
        send(sock, raw)
        try:
            return Reader(sock).read_response()
        except ConnectionClosed:
            return None


@pytest.mark.parametrize("size", [20_000, 100_000, 1_000_000])
def test_huge_header_is_refused(limited_server, size):
    resp = _huge_header_response(limited_server.port, size)
    assert resp is not None, "connection closed without a 431/400 response"
    assert resp.status in (431, 400), resp
    assert server_alive(limited_server.port)


def test_header_below_limit_is_accepted(limited_server):
    resp = _huge_header_response(limited_server.port, 10_000)
    assert resp is not None and resp.status == 200


def test_default_max_header_size_refuses_1mib(django_server):
    resp = _huge_header_response(django_server.port, 1_000_000)
    assert resp is not None and resp.status in (431, 400), resp


def test_slow_header_is_cut_off(one_server, mysite):
    server = one_server("header-timeout", ["--header-read-timeout", "2"], mysite)
    with connect(server.port) as sock:
        start = time.monotonic()
        send(sock, b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        reader = Reader(sock)
        closed_at = None
        for i in range(40):  # a slowloris: one header line every 0.25 s, never the blank line
            try:
                sock.sendall(b"X-Slow-%d: 1\r\n" % i)
            except OSError:
                closed_at = time.monotonic() - start
                break
            if reader.at_eof(timeout=0.25) or reader.buf:
                closed_at = time.monotonic() - start
                break
        assert closed_at is not None, "connection still open after 10 s of trickled headers"
        assert 1.5 <= closed_at <= 6, f"closed after {closed_at:.1f}s with --header-read-timeout 2"
        if reader.buf:  # an answer is allowed (408), but never a 2xx
            assert not reader.buf.startswith(b"HTTP/1.1 2"), bytes(reader.buf[:100])
    assert request(server.port, "GET", "/hello").status == 200
    assert server.stop() == 0


# ---------------------------------------------------------------------------
# Worker pool
# ---------------------------------------------------------------------------


def _concurrent(port, paths):
    with ThreadPoolExecutor(len(paths)) as pool:
        start = time.monotonic()
        results = list(pool.map(lambda p: request(port, "GET", p), paths))
        return time.monotonic() - start, results


def test_default_workers_run_requests_concurrently(django_server):
    elapsed, results = _concurrent(django_server.port, ["/sleep?ms=600"] * 4)
    assert all(r.status == 200 for r in results)
    assert elapsed < 1.5, f"4 x 600 ms took {elapsed:.2f}s: requests did not overlap"


def _quick_request_during(port, slow_path):
    """Seconds a /hello takes while `slow_path` is running."""
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(request, port, "GET", slow_path, timeout=30)
        time.sleep(0.2)
        start = time.monotonic()
        quick = request(port, "GET", "/hello", timeout=30)
        quick_took = time.monotonic() - start
        assert slow.result(timeout=30).status == 200
    assert quick.body == b"Hello, world!"
    return quick_took


def test_request_waiting_on_io_does_not_hold_up_others(django_server):
    took = _quick_request_during(django_server.port, "/sleep?ms=1500")
    assert took < 0.5, f"/hello took {took:.2f}s while another request slept"


def test_long_cpu_bound_request_does_not_hold_up_others(django_server):
    # The pool runs one thread while requests compute, but a queue that stops moving
    # lets another thread in, which gets the GIL at CPython's switch interval.
    took = _quick_request_during(django_server.port, "/spin?ms=1500")
    assert took < 0.5, f"/hello took {took:.2f}s behind a 1.5 s computation"


def test_workers_bound_concurrency(one_server, mysite):
    server = one_server("workers-2", ["--workers", "2"], mysite)
    elapsed, results = _concurrent(server.port, ["/sleep?ms=600"] * 4)
    assert all(r.body == b"slept" for r in results)
    # 2 threads: two rounds of 600 ms (not 1, not 4)
    assert 1.1 <= elapsed < 2.3, f"4 x 600 ms on 2 workers took {elapsed:.2f}s"
    assert server.stop() == 0


def _threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def test_waiting_requests_cost_no_thread(one_server, mysite):
    server = one_server("workers-1", ["--workers", "1"], mysite)
    assert request(server.port, "GET", "/hello").status == 200
    baseline = _threads(server.pid)
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(_threads(server.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(41) as pool:
            start = time.monotonic()
            slow = pool.submit(request, server.port, "GET", "/sleep?ms=1500")
            time.sleep(0.2)
            waiting = [pool.submit(request, server.port, "GET", "/hello") for _ in range(40)]
            results = [f.result(timeout=30) for f in waiting]
            first_done = time.monotonic() - start
            assert slow.result(timeout=30).body == b"slept"
    finally:
        stop.set()
        sampler.join(5)
    assert all(r.status == 200 for r in results)
    # one Python thread: the 40 requests waited for the sleeping one...
    assert first_done >= 1.2, f"/hello answered after {first_done:.2f}s although the only worker slept 1.5 s"
    # ...and waiting did not start a thread per request
    assert max(peak) - baseline < 10, f"threads: baseline {baseline}, peak {max(peak)}"
    assert server.stop() == 0


# ---------------------------------------------------------------------------
# Graceful shutdown
# ---------------------------------------------------------------------------


def _in_flight(port, path, out):
    try:
        out.append(request(port, "GET", path, timeout=30))
    except Exception as exc:  # noqa: BLE001 - recorded for the assertion
        out.append(exc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_lets_in_flight_request_finish(one_server, mysite, sig):
    server = one_server(f"graceful-{sig.name}", [], mysite)
    out = []
    client = threading.Thread(target=_in_flight, args=(server.port, "/sleep?ms=2000", out))
    client.start()
    time.sleep(0.5)  # the request is in the view now
    server.proc.send_signal(sig)
    time.sleep(0.3)
    # no longer accepting: a new connection is refused or gets no answer
    try:
        late = request(server.port, "GET", "/hello", timeout=3)
        pytest.fail(f"a request after {sig.name} was served: {late!r}")
    except (OSError, ConnectionClosed):
        pass
    client.join(15)
    assert out and not isinstance(out[0], Exception), out
    assert (out[0].status, out[0].body) == (200, b"slept")
    server.proc.wait(timeout=15)
    assert server.proc.returncode == 0, server.tail()


def _signal_during_long_request(server, signals):
    """Send `signals` (0.3 s apart) while an 8 s request is in flight; return
    (seconds until the process exited, what the in-flight client got)."""
    out = []
    client = threading.Thread(target=_in_flight, args=(server.port, "/sleep?ms=8000", out))
    client.start()
    time.sleep(0.5)
    start = time.monotonic()
    for i, sig in enumerate(signals):
        if i:
            time.sleep(0.3)
        server.proc.send_signal(sig)
    server.proc.wait(timeout=10)
    took = time.monotonic() - start
    assert server.proc.returncode == 0, server.tail()
    client.join(15)
    return took, out


def test_graceful_timeout_bounds_shutdown(one_server, mysite):
    server = one_server("graceful-timeout", ["--graceful-timeout", "1"], mysite)
    took, out = _signal_during_long_request(server, [signal.SIGTERM])
    assert took < 4, f"exit took {took:.1f}s with --graceful-timeout 1"
    assert out and (isinstance(out[0], Exception) or out[0].status != 200), out


def test_second_signal_stops_without_waiting(one_server, mysite):
    server = one_server("second-signal", ["--graceful-timeout", "30"], mysite)
    took, _ = _signal_during_long_request(server, [signal.SIGINT, signal.SIGINT])
    assert took < 4, f"exit took {took:.1f}s after a second SIGINT"
    assert "second signal: exiting now" in server.tail()
