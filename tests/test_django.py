"""The example project (examples/mysite) served by hurricane, seen from a client.

Covers the WSGI bridge as a Django user meets it: the
environ Django gets (/meta), header decoding and merging, request bodies
(plain, chunked, Expect: 100-continue), keep-alive and pipelining, HEAD, Date
and Content-Length, streaming, FileResponse, Django's 500 page, the access log.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

from support.client import TIMEOUT, Reader, build, chunked, connect, exchange, request, send
from support.env import EXAMPLE

SAMPLE = (EXAMPLE / "demo" / "files" / "sample.txt").read_bytes()
ACCESS_RE = r"{status} {method} {path} \(127\.0\.0\.1\) \d+(?:\.\d+)?ms"


def meta(port, headers=None, path="/meta", version="HTTP/1.1", method="GET", body=b""):
    resp = request(port, method, path, headers=headers, body=body, version=version)
    assert resp.status == 200, resp
    return resp.json()


# ---------------------------------------------------------------------------
# Plain responses: status, Content-Length, Date
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_hello(django_server):
    resp = request(django_server.port, "GET", "/hello")
    assert resp.status == 200
    assert resp.body == b"Hello, world!"
    assert resp.header("content-type") == "text/plain"
    # one chunk (every HttpResponse): sent with Content-Length, not chunked
    assert resp.header("content-length") == "13"
    assert not resp.chunked
    # default settings (from manage.py): no test settings marker
    assert resp.header("x-settings-marker") is None


@pytest.mark.parametrize("path,status", [("/hello", 200), ("/does-not-exist", 404), ("/error", 500)])
def test_date_header_on_every_response(django_server, path, status):
    resp = request(django_server.port, "GET", path)
    assert resp.status == status
    date = resp.header("date")
    assert date, resp
    parsed = email.utils.parsedate_to_datetime(date)
    assert abs(parsed.timestamp() - time.time()) < 60


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        # RFC 9112 §5.1: whitespace between field name and colon MUST get a 400
        b"GET /hello HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    ],
    ids=["bad-content-length", "space-before-colon"],
)
def test_malformed_request_gets_400_with_date(django_server, raw):
    resp = exchange(django_server.port, raw)
    assert resp.status == 400, resp
    assert resp.header("date"), resp


def test_content_length_on_json_response(django_server):
    resp = request(django_server.port, "GET", "/items")
    assert resp.status == 200
    assert int(resp.header("content-length")) == len(resp.body)
    assert not resp.chunked


# ---------------------------------------------------------------------------
# environ keys (what Django sees in request.META)
# ---------------------------------------------------------------------------


def test_environ_remote_addr_and_port(django_server):
    with connect(django_server.port) as sock:
        local_port = sock.getsockname()[1]
        send(sock, build("GET", "/meta", close=True))
        m = Reader(sock).read_response().json()["meta"]
    assert m["REMOTE_ADDR"] == "127.0.0.1"
    assert str(m["REMOTE_PORT"]) == str(local_port)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_environ_server_protocol(django_server, version):
    m = meta(django_server.port, headers={"Host": "127.0.0.1"}, version=version)["meta"]
    assert m["SERVER_PROTOCOL"] == version


@pytest.mark.launchers
def test_environ_paths_and_query(django_server):
    m = meta(django_server.port, path="/meta?q=%D1%82%D0%B5%D1%81%D1%82&x=1+2")["meta"]
    assert m["SCRIPT_NAME"] == ""  # no --root-path: empty, never "/"
    assert m["PATH_INFO"] == "/meta"
    assert m["QUERY_STRING"] == "q=%D1%82%D0%B5%D1%81%D1%82&x=1+2"  # stays percent-encoded
    assert m["REQUEST_METHOD"] == "GET"
    assert m["wsgi.url_scheme"] == "http"
    assert m["wsgi.input_terminated"] is True


def test_environ_content_type_and_length(django_server):
    m = meta(django_server.port, method="POST", headers={"Content-Type": "text/x-test"}, body=b"12345")["meta"]
    assert m["CONTENT_TYPE"] == "text/x-test"
    assert m["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in m and "HTTP_CONTENT_LENGTH" not in m


def test_header_values_are_latin1_so_utf8_cookies_survive(django_server):
    raw = (
        b"GET /meta HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Cookie: name=Jos\xc3\xa9; city=M\xc3\xbcnchen\r\n"
        b"X-Utf8: \xc3\xbc\xe2\x82\xac\r\n"
        b"X-Latin1: caf\xe9 \xff\r\n\r\n"
    )
    data = exchange(django_server.port, raw).json()
    assert data["cookies"] == {"name": "José", "city": "München"}
    # every byte is there: the str values are the header bytes decoded as latin-1
    assert data["meta"]["HTTP_X_UTF8"].encode("latin-1") == "ü€".encode("utf-8")
    assert data["meta"]["HTTP_X_LATIN1"].encode("latin-1") == b"caf\xe9 \xff"


def test_headers_with_underscores_are_dropped(django_server):
    m = meta(
        django_server.port,
        headers=[("X-Foo", "real"), ("X_Foo", "spoofed"), ("Some_Header", "bad"), ("X-Auth-User", "alice"), ("X_Auth_User", "admin")],
    )["meta"]
    assert m["HTTP_X_FOO"] == "real"
    assert m["HTTP_X_AUTH_USER"] == "alice"
    assert "HTTP_SOME_HEADER" not in m
    assert not any("spoofed" in v or v == "admin" or v == "bad" for v in m.values() if isinstance(v, str))


def test_repeated_headers_are_joined(django_server):
    data = meta(
        django_server.port,
        headers=[("X-Multi", "a"), ("Accept", "text/html"), ("X-Multi", "b"), ("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Multi", "c")],
    )
    assert data["meta"]["HTTP_X_MULTI"] == "a, b, c"
    assert data["meta"]["HTTP_COOKIE"] == "a=1; b=2"
    assert data["cookies"] == {"a": "1", "b": "2"}


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


@pytest.mark.launchers
def test_echo_binary_body(django_server):
    body = bytes(range(256)) * 64
    resp = request(django_server.port, "POST", "/echo", headers={"Content-Type": "application/octet-stream"}, body=body)
    assert resp.status == 200
    assert resp.body == body
    assert resp.header("content-type") == "application/octet-stream"


def test_echo_large_body(django_server):
    body = (b"0123456789abcdef" * 65536)[: 1024 * 1024 + 7]
    resp = request(django_server.port, "PUT", "/echo", body=body)
    assert resp.status == 200
    assert resp.body == body


@pytest.mark.launchers
def test_chunked_request_body_reaches_django(django_server):
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"hello ", b"chunked ", b"world")
    )
    resp = exchange(django_server.port, raw)
    assert resp.status == 200
    assert resp.body == b"hello chunked world"


def test_chunked_request_sets_content_length(django_server):
    raw = (
        b"POST /meta HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"x" * 1000, b"y" * 24)
    )
    m = exchange(django_server.port, raw).json()["meta"]
    assert m["CONTENT_LENGTH"] == "1024"
    assert m["wsgi.input_terminated"] is True


def test_large_chunked_request_body(django_server):
    parts = [bytes([i % 256]) * 65536 for i in range(16)]
    head = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    resp = exchange(django_server.port, head + chunked(*parts))
    assert resp.status == 200
    assert resp.body == b"".join(parts)


def test_expect_100_continue(django_server):
    body = b"sent after 100 Continue"
    with connect(django_server.port) as sock:
        send(sock, build("POST", "/echo", headers={"Expect": "100-continue", "Content-Length": str(len(body))}, close=True))
        reader = Reader(sock)
        interim = reader.read_response(skip_1xx=False)  # the client waits: the server must ask
        assert interim.status == 100, interim
        send(sock, body)
        resp = reader.read_response()
    assert resp.status == 200
    assert resp.body == body


# ---------------------------------------------------------------------------
# Connections: keep-alive, pipelining, HEAD
# ---------------------------------------------------------------------------


def test_keep_alive_reuses_the_connection(django_server):
    conn = http.client.HTTPConnection("127.0.0.1", django_server.port, timeout=TIMEOUT)
    try:
        ports = set()
        for _ in range(3):
            conn.request("GET", "/meta")
            resp = conn.getresponse()
            assert resp.status == 200
            ports.add(json.loads(resp.read())["meta"]["REMOTE_PORT"])
            assert resp.getheader("connection", "").lower() != "close"
        assert len(ports) == 1, f"each request came on a new connection: {ports}"
    finally:
        conn.close()


def test_pipelined_requests(django_server):
    reqs = (
        build("GET", "/hello")
        + build("POST", "/echo", body=b"second")
        + build("GET", "/meta?n=3")
        + build("GET", "/stream?n=3&size=4")
        + build("GET", "/hello", close=True)
    )
    with connect(django_server.port) as sock:
        send(sock, reqs)
        reader = Reader(sock)
        r1, r2, r3, r4, r5 = (reader.read_response() for _ in range(5))
        assert reader.at_eof(timeout=3)
    assert (r1.status, r1.body) == (200, b"Hello, world!")
    assert (r2.status, r2.body) == (200, b"second")
    assert r3.json()["meta"]["QUERY_STRING"] == "n=3"
    assert r4.body == b"aaaabbbbcccc"
    assert (r5.status, r5.body) == (200, b"Hello, world!")


def test_head_sends_headers_only(django_server):
    # a body after the HEAD response would corrupt the pipelined GET behind it
    with connect(django_server.port) as sock:
        send(sock, build("HEAD", "/hello") + build("GET", "/hello", close=True))
        reader = Reader(sock)
        head = reader.read_response("HEAD")
        get = reader.read_response()
    assert head.status == 200
    assert head.header("content-length") == "13"
    assert head.header("content-type") == "text/plain"
    assert head.header("date")
    assert (get.status, get.body) == (200, b"Hello, world!")


@pytest.mark.parametrize("path", ["/stream?n=3&size=5", "/file"])
def test_head_on_streaming_and_file_responses(django_server, path):
    with connect(django_server.port) as sock:
        send(sock, build("HEAD", path) + build("GET", "/hello", close=True))
        reader = Reader(sock)
        head = reader.read_response("HEAD")
        get = reader.read_response()
    assert head.status == 200
    assert get.body == b"Hello, world!"


# ---------------------------------------------------------------------------
# Streaming and files
# ---------------------------------------------------------------------------


def test_streaming_response_body(django_server):
    resp = request(django_server.port, "GET", "/stream?n=30&size=100")
    assert resp.status == 200
    assert resp.header("content-length") is None
    assert resp.chunked
    assert resp.body == b"".join(bytes([ord("a") + i % 26]) * 100 for i in range(30))


def test_streaming_first_chunk_arrives_before_generator_ends(django_server):
    # 3 chunks, 1 s apart: the generator finishes 2 s after the first chunk
    with connect(django_server.port) as sock:
        start = time.monotonic()
        send(sock, build("GET", "/stream?n=3&size=10&delay=1.0", close=True))
        reader = Reader(sock)
        resp = reader.read_response()
        total = time.monotonic() - start
    assert resp.body == b"a" * 10 + b"b" * 10 + b"c" * 10
    assert resp.first_body_at is not None and resp.first_body_at < 0.9, f"first chunk after {resp.first_body_at:.2f}s"
    assert total >= 1.9


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_streaming_1gib_keeps_memory_flat(django_server):
    n, size = 16384, 65536  # 1 GiB
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(_rss_kib(django_server.pid))
            time.sleep(0.05)

    with connect(django_server.port, timeout=30) as sock:
        # HTTP/1.0: the body is delimited by the close, so counting bytes is enough
        send(sock, f"GET /stream?n={n}&size={size} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, "closed before headers"
            head += chunk
        status_line = head.split(b"\r\n", 1)[0]
        assert b" 200 " in status_line, head[:200]
        received = len(head.split(b"\r\n\r\n", 1)[1])
        baseline = _rss_kib(django_server.pid)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 180
            while True:
                got = sock.recv_into(view)
                if not got:
                    break
                received += got
                assert time.monotonic() < deadline, "1 GiB stream took more than 180 s"
        finally:
            stop.set()
            thread.join(5)
    assert received == n * size
    growth_mib = (max(samples) - baseline) / 1024
    assert growth_mib < 100, f"server RSS grew by {growth_mib:.0f} MiB while streaming 1 GiB"


def test_file_response(django_server):
    resp = request(django_server.port, "GET", "/file")
    assert resp.status == 200
    assert resp.body == SAMPLE
    assert resp.header("content-length") == str(len(SAMPLE))
    assert resp.header("content-type") == "text/plain"


def test_file_response_twice_on_one_connection(django_server):
    with connect(django_server.port) as sock:
        send(sock, build("GET", "/file") + build("GET", "/file", close=True))
        reader = Reader(sock)
        assert reader.read_response().body == SAMPLE
        assert reader.read_response().body == SAMPLE


# ---------------------------------------------------------------------------
# Errors, database, access log
# ---------------------------------------------------------------------------


def test_exception_in_view_gives_djangos_500(django_server):
    mark = django_server.mark()
    resp = request(django_server.port, "GET", "/error")
    assert resp.status == 500
    assert b"Server Error (500)" in resp.body  # Django's own page (DEBUG off)
    django_server.wait_log(r"Traceback \(most recent call last\)", since=mark)
    django_server.wait_log(r"RuntimeError: boom: /error always fails", since=mark)
    assert request(django_server.port, "GET", "/hello").status == 200


def test_sleep_view(django_server):
    resp = request(django_server.port, "GET", "/sleep?ms=50")
    assert (resp.status, resp.body) == (200, b"slept")


def test_items_use_the_database(django_server):
    name = f"item-{uuid.uuid4().hex[:8]}"
    body = f"name={name}".encode()
    created = request(
        django_server.port, "POST", "/items", headers={"Content-Type": "application/x-www-form-urlencoded"}, body=body
    )
    assert created.status == 201, created
    assert created.json()["name"] == name
    listed = request(django_server.port, "GET", "/items").json()["items"]
    assert {"id": created.json()["id"], "name": name} in listed


@pytest.mark.launchers
@pytest.mark.parametrize(
    "method,path,status,body",
    [("GET", "/hello", 200, b""), ("POST", "/echo", 200, b"abc"), ("GET", "/no-such-page", 404, b""), ("GET", "/error", 500, b"")],
)
def test_access_log_line(django_server, method, path, status, body):
    mark = django_server.mark()
    resp = request(django_server.port, method, path, body=body)
    assert resp.status == status
    django_server.wait_log(ACCESS_RE.format(status=status, method=method, path=re.escape(path)), since=mark)


def test_requests_refused_by_the_parser_are_logged(django_server):
    mark = django_server.mark()
    with connect(django_server.port) as sock:
        send(sock, b"GET /hello HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n")
        assert Reader(sock).read_response().status == 400
    django_server.wait_log(r"400 - malformed request \(127\.0\.0\.1\)", since=mark)


def test_one_access_log_line_per_request(django_server):
    tag = uuid.uuid4().hex[:8]
    mark = django_server.mark()
    with connect(django_server.port) as sock:
        send(sock, build("GET", f"/hello?{tag}=1") * 2 + build("GET", f"/hello?{tag}=1", close=True))
        reader = Reader(sock)
        for _ in range(3):
            assert reader.read_response().status == 200
    time.sleep(0.3)
    pattern = ACCESS_RE.format(status=200, method="GET", path=re.escape(f"/hello?{tag}=1"))
    lines = [l for l in django_server.log_since(mark).splitlines() if re.search(pattern, l)]
    assert len(lines) == 3, lines


# ---------------------------------------------------------------------------
# --root-path: SCRIPT_NAME
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root_path_server(start_server, mysite):
    return start_server("django-root-path", ["--root-path", "/prefix"], mysite)


def test_root_path_sets_script_name(root_path_server):
    m = meta(root_path_server.port, path="/prefix/meta?x=1")["meta"]
    assert m["SCRIPT_NAME"] == "/prefix"
    assert m["PATH_INFO"] == "/meta"
    assert m["QUERY_STRING"] == "x=1"


def test_root_path_routes_django_views(root_path_server):
    resp = request(root_path_server.port, "GET", "/prefix/hello")
    assert (resp.status, resp.body) == (200, b"Hello, world!")
