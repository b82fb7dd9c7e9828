"""What a server behind a load balancer or an ingress needs: idle keep-alive
connections closed after --keep-alive-timeout, --max-connections holding new
connections in the backlog, `Connection: close` during --shutdown-delay so that
keep-alive clients move to another pod, and the client's address and scheme from a
trusted proxy's X-Forwarded-For / X-Forwarded-Proto (--forwarded-allow-ips).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from support.client import Reader, build, connect, request, send
from support.env import PANIC_WORDS, requires
from support.poll import poll_until
from support.server import run_hurricane


def get_on(sock, reader: Reader, path: str = "/hello", headers=None):
    send(sock, build("GET", path, headers))
    return reader.read_response()


def test_idle_keep_alive_connections_close_after_the_timeout(one_server, mysite):
    server = one_server("keep-alive-timeout", ["--keep-alive-timeout", "1"], mysite)
    sock = connect(server.port)
    reader = Reader(sock)
    first = get_on(sock, reader)
    assert first.status == 200 and first.header("connection") != "close", first
    time.sleep(0.5)  # idle, but within the timeout: the connection is reused
    assert get_on(sock, reader).body == b"Hello, world!"
    t0 = time.monotonic()
    assert reader.at_eof(timeout=5), "the idle connection stayed open past --keep-alive-timeout"
    assert 0.7 <= time.monotonic() - t0 <= 3.0
    sock.close()
    assert request(server.port, "GET", "/hello").status == 200


def test_connections_beyond_max_connections_wait_instead_of_being_refused(one_server, mysite):
    server = one_server("max-connections", ["--max-connections", "1"], mysite)
    first = connect(server.port)
    first_reader = Reader(first)
    assert get_on(first, first_reader).status == 200

    second = connect(server.port)  # accepted by the kernel's backlog, not by hurricane
    send(second, build("GET", "/hello"))
    second_reader = Reader(second)
    second.settimeout(1.0)
    with pytest.raises(TimeoutError):
        second_reader.read_response()

    first.close()
    second.settimeout(10)
    answer = second_reader.read_response()
    assert (answer.status, answer.body) == (200, b"Hello, world!")
    second.close()


@requires("probe")
def test_responses_during_the_shutdown_delay_close_keep_alive_connections(one_server, mysite):
    server = one_server("delay-closes-keep-alive", ["--shutdown-delay", "3"], mysite)
    sock = connect(server.port)
    reader = Reader(sock)
    assert get_on(sock, reader).header("connection") != "close"

    server.proc.send_signal(signal.SIGTERM)
    poll_until(lambda: server.probe("/ready"), 2, until=lambda r: r.status == 503, what="/ready to fail after SIGTERM")
    during = get_on(sock, reader)
    assert (during.status, during.body) == (200, b"Hello, world!")
    assert during.header("connection") == "close", during.headers
    assert reader.at_eof(timeout=2), "the keep-alive connection stayed open after Connection: close"
    server.proc.wait(timeout=15)
    assert server.proc.returncode == 0, server.tail()


def meta(server, headers) -> dict:
    response = request(server.port, "GET", "/meta", headers=headers)
    assert response.status == 200, response
    return json.loads(response.body)["meta"]


FORWARDED = [("X-Forwarded-For", "198.51.100.1, 203.0.113.7"), ("X-Forwarded-Proto", "https")]


def test_a_trusted_proxy_sets_the_client_address_and_scheme(one_server, mysite):
    # The suite's requests come from 127.0.0.1: a proxy the default trusts.
    server = one_server("forwarded-default", [], mysite)
    mark = server.mark()
    seen = meta(server, FORWARDED)
    assert seen["REMOTE_ADDR"] == "203.0.113.7", seen
    assert seen["wsgi.url_scheme"] == "https", seen
    assert "REMOTE_PORT" not in seen, seen
    poll_until(lambda: server.log_since(mark), 5, until=lambda log: "GET /meta (203.0.113.7)" in log, what="the access line with the forwarded client")


def test_an_untrusted_peers_forwarding_headers_are_only_headers(one_server, mysite):
    server = one_server("forwarded-untrusted", ["--forwarded-allow-ips", "10.0.0.0/8"], mysite)
    mark = server.mark()
    seen = meta(server, FORWARDED)
    assert seen["REMOTE_ADDR"] == "127.0.0.1", seen
    assert seen["wsgi.url_scheme"] == "http", seen
    assert seen["HTTP_X_FORWARDED_FOR"] == "198.51.100.1, 203.0.113.7", seen
    poll_until(lambda: server.log_since(mark), 5, until=lambda log: "GET /meta (127.0.0.1)" in log, what="the access line with the peer's address")


def test_trusting_every_peer_takes_the_leftmost_forwarded_address(one_server, mysite):
    server = one_server("forwarded-all", ["--forwarded-allow-ips", "*"], mysite)
    assert meta(server, FORWARDED)["REMOTE_ADDR"] == "198.51.100.1"


def test_a_bad_forwarded_allow_ips_entry_is_named(mysite):
    result = run_hurricane(["serve", "--forwarded-allow-ips", "10.0.0.0/8,proxy.local"], mysite, timeout=30)
    assert result.returncode == 2, result
    assert '"proxy.local" is not an IP address' in result.stderr, result.stderr
    assert not any(word in result.stderr for word in PANIC_WORDS), result.stderr
